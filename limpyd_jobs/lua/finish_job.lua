-- Record the end of a job's run, atomically.
-- ARGV[1] job model name   ARGV[2] job pk   ARGV[3] ident
-- ARGV[4] new status ('' to keep it)   ARGV[5] list to push the ident to ('' for none)
-- ARGV[6] end date (stored string, '' to leave `end` as is)
-- ARGV[7] keep the queued flag (1: the job is about to be requeued) or remove it (0)
-- ARGV[8] worker's running sorted set ('' for none); the job stays in it while queued is
--         kept, so that a job waiting for its requeue is never lost
-- ARGV[9] only write if the job's status is this one ('' for always)
-- ARGV[10] only write if the job's attempt token is this one ('' for no check)
-- Returns the status the job had before, '!missing' if the job is gone, or '!stale' when the
-- job's attempt is not ARGV[10] (it was recovered and taken again: this attempt is over).
-- Nothing is written in these cases but the removal from the running set.
local job_model, pk, ident, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local list, end_str, keep_queued, running, only_if = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local current = redis.call('HMGET', hash_key(job_model, pk), 'status', 'attempt')
local previous = current[1] or ''
local outcome = nil
if redis.call('SISMEMBER', job_model .. ':collection', pk) == 0 then
  outcome = '!missing'
elseif ARGV[10] ~= '' and current[2] ~= ARGV[10] then
  outcome = '!stale'
end
if outcome then
  if running ~= '' then redis.call('ZREM', running, ident) end
  return outcome
end
if only_if ~= '' and previous ~= only_if then return previous end
if status ~= '' then set_field(job_model, pk, 'status', status, true) end
if end_str ~= '' then set_field(job_model, pk, 'end', end_str, false) end
if list ~= '' then redis.call('RPUSH', list, ident) end
if keep_queued ~= '1' then
  del_field(job_model, pk, 'queued', true)
  if running ~= '' then redis.call('ZREM', running, ident) end
end
return previous
