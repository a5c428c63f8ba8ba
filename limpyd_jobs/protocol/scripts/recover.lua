-- Give back the jobs of workers that stopped beating, atomically (one recovery at a time).
-- ARGV: now_score, heartbeat_timeout, max_tries, recoverer, lock_ms, now_str
-- RETURNS: dead_workers, [ident, outcome, tries, worker, queue_name]...
-- A worker whose last beat is older than heartbeat_timeout seconds is dead, by Redis's clock
-- (TIME, unless now_score is given): no host's clock decides it; now_str only dates the records.
-- Each job of its running set is given back (lib/ends.lua's give_back_lost): RUNNING (or ERROR waiting for its requeue) to the front
-- of its queue as WAITING (outcome LOST_REQUEUED), or to ERROR once it ran max_tries times
-- (with `end` = now_str, in its queue's `errors` list, unqueued: LOST_FAILED); the result lists
-- those. Recoveries closer than lock_ms (the lock recoverer takes) are skipped.
if redis.call('SET', key_recovery_lock(), recoverer, 'NX', 'PX', lock_ms) == false then
  return {0}
end
local limit = tonumber(max_tries)
now_score = now_or_server(now_score)
local dead_before = now_score - tonumber(heartbeat_timeout)
local result = {0}
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', key_workers(), '-inf', '(' .. dead_before)) do
  local running = key_running(worker)
  for _, ident in ipairs(redis.call('ZRANGE', running, 0, -1)) do
    local job_model, pk = job_model_of(ident)
    if job_model and redis.call('SISMEMBER', key_collection(job_model), pk) == 1 then
      local outcome = give_back_lost(job_model, pk, ident, worker, now_str, now_score, limit, false)
      if outcome then
        local fields = redis.call('HMGET', key_hash(job_model, pk), 'tries', 'queue_key')
        table.insert(result, ident); table.insert(result, outcome)
        table.insert(result, fields[1] or '0'); table.insert(result, worker)
        table.insert(result, queue_name_of(fields[2]))
      end
    end
  end
  redis.call('DEL', running, key_worker(worker), key_worker_wakeup(worker), key_worker_control(worker))
  redis.call('ZREM', key_workers(), worker)
  result[1] = result[1] + 1
end
return result
