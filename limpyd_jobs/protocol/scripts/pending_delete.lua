-- Remove a pending job completely: from the schedule, its data, its hash, its collection.
-- ARGV: job_model, schedule_model, schedule_pk, job_id
-- RETURNS: existed
-- RETRY: safe, a deleted job is deleted again
redis.call('ZREM', key_field(schedule_model, schedule_pk, 'jobs'), job_id)
redis.call('DEL', key_field(job_model, job_id, 'data'), key_hash(job_model, job_id))
return redis.call('SREM', key_collection(job_model), job_id)
