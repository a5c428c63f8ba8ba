-- Set (or replace) the schedule of a job id and place its next run, atomically.
-- ARGV: schedule_model, timeline_model, timeline_pk, job_model, model_repr, job_id, next_run, event, now_int, reason, fields...
-- RETURNS: version, deferred
-- RETRY: safe, the same schedule is written again (its version goes up once more)
-- fields: the schedule's fields, by threes: name, value, indexed (0/1). The version goes up by
-- one: a run of an older version is not rescheduled. next_run: when the next run is due ('' for
-- none); event: the status written (EVENT_TML, EVENT_STP or EVENT_BAD), as event:now_int, with
-- its reason ('' for none). The new schedule replaces the old one wherever it stands: a run of it
-- that has not started is canceled; the next run goes to the timeline, unless a run of the job id
-- is running: it waits for its end then, in the schedule's `deferred` field (deferred: 1), and
-- the end of that run places it (schedule_mark.lua). So the schedule is in one place only.
redis.call('SADD', key_collection(schedule_model), job_id)
redis.call('SADD', key_collection(timeline_model), timeline_pk)
for i = 1, #fields, 3 do
  set_field(schedule_model, job_id, fields[i], fields[i + 1], fields[i + 2] == '1')
end
local running = false
for _, run in ipairs(schedule_runs(job_model, job_id)) do
  if run.status == WAITING or run.status == DELAYED then
    cancel_run(job_model, model_repr, run)
  elseif run.status == RUNNING then
    running = true
  end
end
local key = key_hash(schedule_model, job_id)
local version = redis.call('HINCRBY', key, 'version', 1)
local timeline = key_field(timeline_model, timeline_pk, 'runs')
redis.call('ZREM', timeline, job_id)
redis.call('HDEL', key, 'deferred')
local deferred = 0
if next_run ~= '' and running then
  redis.call('HSET', key, 'deferred', next_run)
  deferred = 1
elseif next_run ~= '' then
  redis.call('ZADD', timeline, next_run, job_id)
end
redis.call('HSET', key, 'status', event .. ':' .. now_int)
if reason ~= '' then redis.call('HSET', key, 'reason', reason) else redis.call('HDEL', key, 'reason') end
return {version, deferred}
