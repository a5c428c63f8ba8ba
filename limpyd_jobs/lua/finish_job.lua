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
local key = hash_key(job_model, pk)
local current = redis.call('HMGET', key, 'status', 'attempt', 'queued')
local previous = current[1]
local refused = nil
if not previous then
  refused = '!missing'
elseif ARGV[10] ~= '' and current[2] ~= ARGV[10] then
  refused = '!stale'
end
if refused then
  if running ~= '' then redis.call('ZREM', running, ident) end
  return refused
end
if only_if ~= '' and previous ~= only_if then return previous end
local fields = {}
if status ~= '' then
  fields = {'status', status}
  reindex(job_model, pk, 'status', previous, status)
end
if end_str ~= '' then
  table.insert(fields, 'end')
  table.insert(fields, end_str)
end
if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
if list ~= '' then redis.call('RPUSH', list, ident) end
if keep_queued ~= '1' then
  if current[3] then
    reindex(job_model, pk, 'queued', current[3], false)
    redis.call('HDEL', key, 'queued')
  end
  if running ~= '' then redis.call('ZREM', running, ident) end
end
return previous
