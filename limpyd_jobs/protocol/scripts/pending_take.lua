-- Take the pending jobs that are due, oldest first: each leaves the schedule, or is
-- rescheduled, in this one atomic step, so two pollers never get the same job for one due time.
-- ARGV: job_model, schedule_model, schedule_pk, now_score, reschedule_at, limit
-- RETURNS: [job_id, data]...
-- reschedule_at: the timestamp taken jobs are due again at ('' to remove them from the
-- schedule); limit: at most this many jobs ('' for all); data: each job's {key, value, ...}.
local result = {}
local schedule = key_field(schedule_model, schedule_pk, 'jobs')
for _, job_id in ipairs(due_take(schedule, now_score, limit, reschedule_at)) do
  if reschedule_at ~= '' then
    redis.call('HSET', key_hash(job_model, job_id), 'schedule_at', reschedule_at)
  else
    redis.call('HDEL', key_hash(job_model, job_id), 'schedule_at')
  end
  table.insert(result, job_id)
  table.insert(result, redis.call('HGETALL', key_field(job_model, job_id, 'data')))
end
return result
