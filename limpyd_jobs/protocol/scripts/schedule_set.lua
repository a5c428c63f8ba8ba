-- Set (or replace) the schedule of a job id and place its next run, atomically.
-- ARGV: schedule_model, timeline_model, timeline_pk, job_id, next_run, event, now_int, fields...
-- RETURNS: version
-- RETRY: safe, the same schedule is written again (its version goes up once more)
-- fields: the schedule's fields, by threes: name, value, indexed (0/1). The schedule's version
-- goes up by one (a run dispatched for an older version is not rescheduled). next_run: when its
-- next run is due, placed in the timeline ('' for none: it leaves the timeline); event: the
-- status written (EVENT_TML, EVENT_STP or EVENT_BAD), as event:now_int.
redis.call('SADD', key_collection(schedule_model), job_id)
redis.call('SADD', key_collection(timeline_model), timeline_pk)
for i = 1, #fields, 3 do
  set_field(schedule_model, job_id, fields[i], fields[i + 1], fields[i + 2] == '1')
end
local version = redis.call('HINCRBY', key_hash(schedule_model, job_id), 'version', 1)
local timeline = key_field(timeline_model, timeline_pk, 'runs')
if next_run == '' then
  redis.call('ZREM', timeline, job_id)
else
  redis.call('ZADD', timeline, next_run, job_id)
end
redis.call('HSET', key_hash(schedule_model, job_id), 'status', event .. ':' .. now_int)
return version
