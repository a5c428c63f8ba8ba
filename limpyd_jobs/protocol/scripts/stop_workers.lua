-- Ask workers to stop after their current job, atomically (limpyd-jobs stop-workers).
-- ARGV: order, ttl_ms, workers...
-- RETURNS: asked, [worker]...
-- RETRY: safe, asking a worker again writes the same request
-- order: what the control key of a worker says (STOP, see stop_workers.py); workers: the ids to
-- ask (none: every registered worker). Each registered one gets the order in its control key
-- (expiring after ttl_ms, for a worker that dies without reading it) and a token in its wake-up
-- list, so that an idle worker reads it at once; an id that is not registered is left out.
if #workers == 0 then workers = redis.call('ZRANGE', key_workers(), 0, -1) end
local result = {0}
for _, worker in ipairs(workers) do
  if redis.call('ZSCORE', key_workers(), worker) then
    redis.call('SET', key_worker_control(worker), order, 'PX', ttl_ms)
    wake_worker(worker)
    result[1] = result[1] + 1
    table.insert(result, worker)
  end
end
return result
