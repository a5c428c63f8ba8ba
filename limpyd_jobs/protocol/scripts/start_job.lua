-- Start a job already taken by take.lua whose model was not in the job models registry (older
-- data), and register its model.
-- ARGV: job_model, ident, now_str, worker
-- RETURNS: outcome, status, attempt, identifier, timeout
-- RETRY: safe, a job this worker started is recognised by its token
-- outcome: TAKE_RUN (started: RUNNING with its attempt token), TAKE_SKIP (not WAITING) or
-- TAKE_MISSING (no such job).
local model_repr, pk = string.match(ident, '^(.+):([^:]+)$')
if not pk or redis.call('SISMEMBER', key_collection(job_model), pk) == 0 then
  return {TAKE_MISSING, '', '', '', ''}
end
register_model(model_repr, job_model)
local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'tries', 'attempt', 'identifier', 'timeout',
                          'told')
local status, identifier, timeout = fields[1] or '', fields[4] or '', fields[5] or ''
if status == RUNNING and taken_by(fields[3], worker) then  -- sent again after a lost reply
  return {TAKE_RUN, WAITING, fields[3], identifier, timeout}
end
if status ~= WAITING then return {TAKE_SKIP, status, '', identifier, timeout} end
return {TAKE_RUN, status, start_attempt(job_model, pk, worker, now_str, fields[2], nil, nil, fields[6] ~= false),
        identifier, timeout}
