-- Start a job already taken by fetch_job.lua whose model was not in the registry.
-- ARGV[1] job model name   ARGV[2] job pk   ARGV[3] now (stored string)   ARGV[4] worker id
-- Returns {outcome ('run', 'skip' or 'missing'), status, attempt}
local job_model, pk, now_str, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('SISMEMBER', job_model .. ':collection', pk) == 0 then return {'missing', '', ''} end
local fields = redis.call('HMGET', hash_key(job_model, pk), 'status', 'tries')
local status = fields[1] or ''
if status ~= WAITING then return {'skip', status, ''} end
return {'run', status, start_attempt(job_model, pk, worker, now_str, fields[2])}
