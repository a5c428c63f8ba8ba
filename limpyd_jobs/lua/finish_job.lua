-- Record the end of a job's run, atomically.
-- ARGV[1] job model name   ARGV[2] job pk   ARGV[3] ident
-- ARGV[4] new status ('' to keep it)   ARGV[5] list to push the ident to ('' for none)
-- ARGV[6] end date (stored string, '' to leave `end` as is)
-- ARGV[7] keep the queued flag (1: the job is about to be requeued) or remove it (0)
-- ARGV[8] worker's running sorted set ('' for none); the job stays in it while queued is
--         kept, so that a job waiting for its requeue is never lost
-- ARGV[9] only write if the job's status is this one ('' for always)
-- Returns the status the job had before.
local job_model, pk, ident, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local list, end_str, keep_queued, running, only_if = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local previous = redis.call('HGET', hash_key(job_model, pk), 'status') or ''
if only_if ~= '' and previous ~= only_if then return previous end
if status ~= '' then set_field(job_model, pk, 'status', status, true) end
if end_str ~= '' then set_field(job_model, pk, 'end', end_str, false) end
if list ~= '' then redis.call('RPUSH', list, ident) end
if keep_queued ~= '1' then
  del_field(job_model, pk, 'queued', true)
  if running ~= '' then redis.call('ZREM', running, ident) end
end
return previous
