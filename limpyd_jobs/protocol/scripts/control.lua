-- Set or lift the order of the control key, atomically (limpyd-jobs-schedule control).
-- ARGV: order
-- RETURNS: order, woken
-- RETRY: safe, giving the same order again writes the same key
-- order: HALT (workers and dispatchers stop after their current task: every registered worker
-- gets a token in its wake-up list, so that an idle one reads it at once; woken: how many), or ''
-- (the key goes: they may run again). Returns the order the key holds now ('' for none).
if order ~= ORDER_HALT then
  redis.call('DEL', key_control())
  return {'', 0}
end
redis.call('SET', key_control(), order)
local workers = redis.call('ZRANGE', key_workers(), 0, -1)
for _, worker in ipairs(workers) do wake_worker(worker) end
return {order, #workers}
