-- Move the jobs whose delay is over from the delayed sets of some queues to their waiting lists.
-- ARGV: queue_model, now_score, queues...
-- RETURNS: moved, next_due, now, [ident, reason]...
-- RETRY: safe, jobs moved already are not due in their delayed sets any more
-- queues: by pairs, pk and name. A job's status goes to WAITING only if it was DELAYED (a job
-- canceled meanwhile keeps its status and will be skipped by the worker). A job of a model not
-- registered yet (older data) is moved as it is: the worker that takes it finds its model. An
-- ident that names no job is dropped and returned with the reason. next_due: when the first job
-- left in these delayed sets is due ('' if none). now: the time due jobs were moved at, Redis's
-- (TIME) unless now_score is given, so that no host's clock decides when a job is due.
now_score = now_or_server(now_score)
local result, moved, delayed_keys = {0, '', tostring(now_score)}, 0, {}
for i = 1, #queues, 2 do
  local queue_pk, queue_name, queue_moved = queues[i], queues[i + 1], 0
  local waiting = queue_list(queue_model, queue_pk, 'waiting')
  local delayed = queue_list(queue_model, queue_pk, 'delayed')
  table.insert(delayed_keys, delayed)
  local first = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')[2]  -- nothing due: nothing more to read
  for _, ident in ipairs(first and tonumber(first) <= tonumber(now_score) and due_take(delayed, now_score) or {}) do
    local job_model, pk = job_model_of(ident)
    if not job_model then
      redis.call('RPUSH', waiting, ident)
      queue_moved = queue_moved + 1
    elseif redis.call('SISMEMBER', key_collection(job_model), pk) == 0 then
      table.insert(result, ident)
      table.insert(result, 'job does not exist')
    else
      if redis.call('HGET', key_hash(job_model, pk), 'status') == DELAYED then
        tell_attempt(job_model, pk)  -- an attempt delayed while it ran: its due event follows
        set_field(job_model, pk, 'status', WAITING, true)
        record_event(job_model, pk, 'due', tonumber(now_score), {queue = queue_name})
      end
      redis.call('RPUSH', waiting, ident)
      queue_moved = queue_moved + 1
    end
  end
  if queue_moved > 0 then wake_up(queue_model, queue_name, queue_moved) end
  moved = moved + queue_moved
end
result[1], result[2] = moved, next_due(delayed_keys)
return result
