-- Start a job already taken by fetch_job.lua whose model was not in the registry.
-- ARGV[1] job model name   ARGV[2] job pk   ARGV[3] now (stored string)
-- Returns {outcome ('run', 'skip' or 'missing'), status}
local job_model, pk, now_str = ARGV[1], ARGV[2], ARGV[3]
if redis.call('SISMEMBER', job_model .. ':collection', pk) == 0 then return {'missing', ''} end
local status = redis.call('HGET', hash_key(job_model, pk), 'status') or ''
if status ~= WAITING then return {'skip', status} end
set_field(job_model, pk, 'status', RUNNING, true)
set_field(job_model, pk, 'start', now_str, false)
redis.call('HINCRBY', hash_key(job_model, pk), 'tries', 1)
return {'run', status}
