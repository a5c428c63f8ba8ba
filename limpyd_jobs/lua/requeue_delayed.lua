-- Move the jobs whose delay is over from the delayed sets of some queues to their waiting lists.
-- ARGV[1] queue model name   ARGV[2] now (score)   ARGV[3..] queues, by pairs: pk, name
-- A job's status goes to WAITING only if it was DELAYED (a job canceled meanwhile keeps its
-- status and will be skipped by the worker).
-- Returns {moved_count, failure_ident_1, failure_reason_1, ...}
local queue_model, now = ARGV[1], ARGV[2]
local result, moved = {0}, 0
for i = 3, #ARGV, 2 do
  local queue_pk, queue_name, queue_moved = ARGV[i], ARGV[i + 1], 0
  local delayed = queue_key(queue_model, queue_pk, 'delayed')
  local waiting = queue_key(queue_model, queue_pk, 'waiting')
  for _, ident in ipairs(redis.call('ZRANGEBYSCORE', delayed, '-inf', now)) do
    redis.call('ZREM', delayed, ident)
    local job_model, pk = job_model_of(ident)
    if not job_model then
      table.insert(result, ident)
      table.insert(result, 'unknown job model')
    elseif redis.call('SISMEMBER', job_model .. ':collection', pk) == 0 then
      table.insert(result, ident)
      table.insert(result, 'job does not exist')
    else
      if redis.call('HGET', hash_key(job_model, pk), 'status') == DELAYED then
        set_field(job_model, pk, 'status', WAITING, true)
      end
      redis.call('RPUSH', waiting, ident)
      queue_moved = queue_moved + 1
    end
  end
  if queue_moved > 0 then wake_up(queue_model, queue_name, queue_moved) end
  moved = moved + queue_moved
end
result[1] = moved
return result
