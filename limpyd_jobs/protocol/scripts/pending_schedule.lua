-- Schedule (or reschedule) a pending job and update its data, atomically.
-- ARGV: job_model, schedule_model, schedule_pk, job_id, at, data...
-- RETURNS: done
-- RETRY: safe, the same schedule and data are written again
-- job_model and schedule_model: the pending models of a prefix (e.g. "pending:scheduledjob" and
-- "pending:schedule"); at: the timestamp the job is due at; data: by threes, key, value and
-- delete (1: remove the key, the value is ignored).
redis.call('SADD', key_collection(schedule_model), schedule_pk)
redis.call('SADD', key_collection(job_model), job_id)
redis.call('ZADD', key_field(schedule_model, schedule_pk, 'jobs'), at, job_id)
redis.call('HSET', key_hash(job_model, job_id), 'schedule_at', at)
local stored = key_field(job_model, job_id, 'data')
for i = 1, #data, 3 do
  if data[i + 2] == '1' then
    redis.call('HDEL', stored, data[i])
  else
    redis.call('HSET', stored, data[i], data[i + 1])
  end
end
return 1
