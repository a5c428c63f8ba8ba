-- Record what happened to a run of a schedule, and place its next run, if the schedule is still
-- the one the run was dispatched for, atomically.
-- ARGV: schedule_model, timeline_model, timeline_pk, job_id, version, event, now_int, next_run
-- RETURNS: marked
-- RETRY: safe, the same event and next run are written again
-- version: the schedule version of the run ('' for any); event: the status written, as
-- event:now_int; next_run: when the next run is due, placed in the timeline ('' to leave the
-- timeline as it is). marked: 1, or 0 when the schedule is gone or was set anew since.
local key = key_hash(schedule_model, job_id)
if redis.call('EXISTS', key) == 0 then return 0 end
if version ~= '' and redis.call('HGET', key, 'version') ~= version then return 0 end
if next_run ~= '' then
  redis.call('SADD', key_collection(timeline_model), timeline_pk)
  redis.call('ZADD', key_field(timeline_model, timeline_pk, 'runs'), next_run, job_id)
end
redis.call('HSET', key, 'status', event .. ':' .. now_int)
return 1
