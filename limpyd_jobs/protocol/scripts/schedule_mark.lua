-- Record what happened to a run of a schedule, and place its next run, if the schedule is still
-- the one the run was dispatched for, atomically; else place the run the newer schedule deferred.
-- ARGV: schedule_model, timeline_model, timeline_pk, job_id, version, event, now_int, next_run, reason
-- RETURNS: marked, placed
-- RETRY: safe, the same event and next run are written again
-- version: the schedule version of the run ('' for any); event: the status written, as
-- event:now_int, with its reason ('' for none); next_run: when the next run is due, placed in the
-- timeline ('' to leave the timeline as it is). marked: 1, or 0 when the schedule is gone or was
-- set anew since the run was dispatched; then the next run that set deferred until the end of
-- this run (its `deferred` field) goes to the timeline, and placed is its due time ('' if none).
-- A DIE (the run failed) places next_run only for a schedule whose `on_error` is 'continue': it
-- is then marked EVENT_TML, its reason saying the run failed; otherwise the schedule ends there.
local key = key_hash(schedule_model, job_id)
if redis.call('EXISTS', key) == 0 then return {0, ''} end
local timeline = key_field(timeline_model, timeline_pk, 'runs')
if version ~= '' and redis.call('HGET', key, 'version') ~= version then
  local deferred = redis.call('HGET', key, 'deferred')
  if not deferred then return {0, ''} end
  redis.call('ZADD', timeline, deferred, job_id)
  redis.call('HDEL', key, 'deferred')
  return {0, deferred}
end
if event == EVENT_DIE then  -- a failed run: the schedule ends, unless it goes on after errors
  if redis.call('HGET', key, 'on_error') == 'continue' and next_run ~= '' then
    event, reason = EVENT_TML, 'the last run failed: ' .. reason
  else
    next_run = ''
  end
end
if next_run ~= '' then
  redis.call('SADD', key_collection(timeline_model), timeline_pk)
  redis.call('ZADD', timeline, next_run, job_id)
end
redis.call('HSET', key, 'status', event .. ':' .. now_int)
if reason ~= '' then redis.call('HSET', key, 'reason', reason) else redis.call('HDEL', key, 'reason') end
return {1, ''}
