-- Pause or resume a queue name, atomically: workers take no job from a paused name.
-- ARGV: queue_model, name, pause
-- RETURNS: changed, woken
-- RETRY: safe, pausing a paused name, or resuming one that is not paused, changes nothing
-- pause: 1 adds the name to the paused set; 0 takes it out and wakes up the workers of the name:
-- a token in the wake-up list of each registered worker whose queues have the name (or whose
-- details are missing), so that an idle one reads the paused set at once, and, if jobs wait, as
-- many tokens as those workers (one at least, at most one per job) in the name's own wake-up
-- list, so that idle workers take them. changed: 1 if the paused set changed; woken: the workers
-- told.
if pause == '1' then
  return {redis.call('SADD', key_paused(), name), 0}
end
if redis.call('SREM', key_paused(), name) == 0 then return {0, 0} end
local woken = 0
for _, worker in ipairs(redis.call('ZRANGE', key_workers(), 0, -1)) do
  local queues = redis.call('HGET', key_worker(worker), 'queues')
  local serves = not queues
  for queue in string.gmatch(queues or '', '[^,]+') do
    if queue == name then serves = true end
  end
  if serves then
    wake_worker(worker)
    woken = woken + 1
  end
end
local waiting = 0
for _, queue_pk in ipairs(redis.call('SMEMBERS', key_index(queue_model, 'name', name))) do
  waiting = waiting + redis.call('LLEN', queue_list(queue_model, queue_pk, 'waiting'))
end
if waiting > 0 then wake_up(queue_model, name, math.min(waiting, math.max(woken, 1))) end
return {1, woken}
