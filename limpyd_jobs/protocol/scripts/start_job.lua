-- Start a job already taken by take.lua whose model was not in the job models registry.
-- ARGV: job_model, pk, now_str, worker
-- RETURNS: outcome, status, attempt
-- RETRY: safe, a job this worker started is recognised by its token
-- outcome: TAKE_RUN (started: RUNNING with its attempt token), TAKE_SKIP (not WAITING) or
-- TAKE_MISSING (no such job).
if redis.call('SISMEMBER', key_collection(job_model), pk) == 0 then return {TAKE_MISSING, '', ''} end
local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'tries', 'attempt')
local status = fields[1] or ''
if status == RUNNING and taken_by(fields[3], worker) then  -- sent again after a lost reply
  return {TAKE_RUN, WAITING, fields[3]}
end
if status ~= WAITING then return {TAKE_SKIP, status, ''} end
return {TAKE_RUN, status, start_attempt(job_model, pk, worker, now_str, fields[2])}
