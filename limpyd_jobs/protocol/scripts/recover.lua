-- Give back the jobs of workers that stopped beating, atomically (one recovery at a time).
-- ARGV: now_score, dead_before, max_tries, recoverer, lock_ms, now_str
-- RETURNS: dead_workers, [ident, outcome, tries, worker, queue_name]...
-- A worker whose last beat is older than dead_before is dead. Each job of its running set that
-- was RUNNING (or ERROR waiting for its requeue) goes back to the front of its queue's waiting
-- list as WAITING (outcome LOST_REQUEUED), or to ERROR (with `end` = now_str, in its queue's
-- `errors` list, unqueued: LOST_FAILED) once it ran max_tries times. A job DELAYED while it ran
-- goes to its delayed set, due now; one CANCELED while it ran is unqueued; jobs already back in a
-- queue are left alone. Recoveries closer than lock_ms (the lock recoverer takes) are skipped.
if redis.call('SET', key_recovery_lock(), recoverer, 'NX', 'PX', lock_ms) == false then
  return {0}
end
local limit = tonumber(max_tries)
local result = {0}
for _, worker in ipairs(redis.call('ZRANGEBYSCORE', key_workers(), '-inf', '(' .. dead_before)) do
  local running = key_running(worker)
  for _, ident in ipairs(redis.call('ZRANGE', running, 0, -1)) do
    local job_model, pk = job_model_of(ident)
    if job_model and redis.call('SISMEMBER', key_collection(job_model), pk) == 1 then
      local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'queued', 'tries', 'queue_key')
      local status, queued, tries, queue = fields[1], fields[2], tonumber(fields[3]) or 0, fields[4]
      if queued == '1' and queue and (status == RUNNING or status == ERROR) then
        if tries >= limit then
          set_field(job_model, pk, 'status', ERROR, true)
          set_field(job_model, pk, 'end', now_str, false)
          del_field(job_model, pk, 'queued', true)
          redis.call('RPUSH', key_queue_list(queue, 'errors'), ident)
          table.insert(result, ident); table.insert(result, LOST_FAILED)
        else
          set_field(job_model, pk, 'status', WAITING, true)
          redis.call('LPUSH', key_queue_list(queue, 'waiting'), ident)
          wake_up_queue(queue)
          table.insert(result, ident); table.insert(result, LOST_REQUEUED)
        end
        table.insert(result, tostring(tries)); table.insert(result, worker)
        table.insert(result, queue_name_of(queue))
      elseif queued == '1' and queue and status == DELAYED then
        redis.call('ZADD', key_queue_list(queue, 'delayed'), now_score, ident)
      elseif queued == '1' and status == CANCELED then
        del_field(job_model, pk, 'queued', true)
      end
    end
  end
  redis.call('DEL', running, key_worker(worker))
  redis.call('ZREM', key_workers(), worker)
  result[1] = result[1] + 1
end
return result
