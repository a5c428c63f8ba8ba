-- Remove the schedule of a job id, atomically: out of the timeline, its waiting or delayed run
-- canceled (out of its queue, unqueued); a running run ends without being rescheduled.
-- ARGV: schedule_model, timeline_model, timeline_pk, job_model, model_repr, job_id, indexed...
-- RETURNS: existed, canceled
-- RETRY: safe, a schedule unset already is unset again
-- job_model and model_repr: the model of the runs and its repr (the start of their idents); indexed:
-- the schedule model's indexed fields, whose index entries go with it. existed: 1 if the job id
-- had a schedule; canceled: how many runs were canceled.
redis.call('ZREM', key_field(timeline_model, timeline_pk, 'runs'), job_id)
local canceled = 0
for _, run in ipairs(schedule_runs(job_model, job_id)) do
  if run.status == WAITING or run.status == DELAYED then
    cancel_run(job_model, model_repr, run)
    canceled = canceled + 1
  end
end
local key = key_hash(schedule_model, job_id)
if redis.call('EXISTS', key) == 0 then return {0, canceled} end
if #indexed > 0 then
  local values = redis.call('HMGET', key, unpack(indexed))
  for i, field in ipairs(indexed) do
    if values[i] then redis.call('SREM', key_index(schedule_model, field, values[i]), job_id) end
  end
end
redis.call('DEL', key)
redis.call('SREM', key_collection(schedule_model), job_id)
return {1, canceled}
