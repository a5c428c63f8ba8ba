-- Empty the queues of a name (every priority), atomically: their waiting and delayed jobs end CANCELED.
-- ARGV: queue_model, name, now_str
-- RETURNS: canceled, kept
-- RETRY: safe, an empty queue stays empty, and a job canceled is not counted again
-- Each job of the waiting lists and delayed sets of the queues of this name that is WAITING or
-- DELAYED ends CANCELED and unqueued (lib/operator.lua's cancel_unheld: adding its identifier again
-- makes a new job), at once; one already CANCELED is unqueued; a job a worker holds meanwhile is
-- left to the end of its run. The lists are left empty, but for the idents whose model is not
-- registered (their jobs cannot be read: kept, in their order, for workers to set aside). Costs one
-- step per job, as rq's empty does. canceled: the jobs canceled (WAITING or DELAYED before), each
-- with a 'canceled' event in its history (now_str: when); kept: the idents kept.
local canceled, kept = 0, 0

local function cancel_entry(ident)  -- true if the ident is kept
  local job_model, pk = job_model_of(ident)
  if not job_model then return true end
  local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'queued', 'attempt')
  local status = fields[1]
  if status == WAITING or status == DELAYED or status == CANCELED then
    if status ~= CANCELED then tell_attempt(job_model, pk) end  -- its canceled event follows
    if fields[2] and held_by_worker(ident, fields[3]) then
      set_field(job_model, pk, 'status', CANCELED, true)
    else
      cancel_unheld(job_model, pk)
    end
    if status ~= CANCELED then
      canceled = canceled + 1
      record_event(job_model, pk, 'canceled', now_str, {by = 'empty', status = status})
    end
  end  -- RUNNING, SUCCESS or ERROR: only the entry goes (a worker would have skipped it)
  return false
end

for _, queue_pk in ipairs(redis.call('SMEMBERS', key_index(queue_model, 'name', name))) do
  local waiting = queue_list(queue_model, queue_pk, 'waiting')
  local delayed = queue_list(queue_model, queue_pk, 'delayed')
  local keep_waiting, keep_delayed = {}, {}
  for _, ident in ipairs(redis.call('LRANGE', waiting, 0, -1)) do
    if cancel_entry(ident) then table.insert(keep_waiting, ident) end
  end
  local scored = redis.call('ZRANGE', delayed, 0, -1, 'WITHSCORES')
  for i = 1, #scored, 2 do
    if cancel_entry(scored[i]) then
      table.insert(keep_delayed, scored[i + 1])
      table.insert(keep_delayed, scored[i])
    end
  end
  redis.call('DEL', waiting, delayed)
  for i = 1, #keep_waiting, 1000 do  -- unpack has a limit: by chunks
    redis.call('RPUSH', waiting, unpack(keep_waiting, i, math.min(i + 999, #keep_waiting)))
  end
  for i = 1, #keep_delayed, 1000 do
    redis.call('ZADD', delayed, unpack(keep_delayed, i, math.min(i + 999, #keep_delayed)))
  end
  kept = kept + #keep_waiting + #keep_delayed / 2
end
return {canceled, kept}
