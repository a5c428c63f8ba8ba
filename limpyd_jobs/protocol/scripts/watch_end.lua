-- A waiter asks for a job's end notice: from now on its successful end pushes a token to its
-- `ended` list (see notice_end). Nothing is written for a job that does not exist, so an end
-- nobody waits for costs no push and no key.
-- ARGV: job_model, pk
-- RETURNS: status
-- RETRY: safe, the field is set once
local key = key_hash(job_model, pk)
local status = redis.call('HGET', key, 'status')
if status then redis.call('HSET', key, 'end_notice', '1') end
return status
