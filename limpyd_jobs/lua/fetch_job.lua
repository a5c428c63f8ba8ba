-- Take the first job of the first non-empty waiting list and start it, atomically.
-- KEYS: the waiting lists to look at, highest priority first.
-- ARGV[1] worker id ('' for none: no running set, no attempt token)   ARGV[2] now (stored string)
-- ARGV[3] now (score)   ARGV[4] count waiting/delayed jobs (1) or not (0)
-- ARGV[5..] delayed sets, only counted
-- The job goes from its waiting list to the worker's running set in the same step, so a
-- taken job is always somewhere. Its status becomes RUNNING, `start` is set, `tries` + 1,
-- and `attempt` = "<worker id>:<tries>" only if it was WAITING; otherwise the caller decides
-- (skip, delay) from the status.
-- Returns {outcome, ident, waiting_key, status, waiting_count, delayed_count, identifier, attempt,
--          timeout (the job's own `timeout` field, or '')}
-- with outcome one of 'run', 'skip' (not WAITING), 'missing' (no such job),
-- 'unknown' (its model is not registered), or 'empty' (nothing waiting).
local worker, now_str, now_score, want_counts = ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1'
local running = worker ~= '' and ('limpyd-jobs:worker:' .. worker .. ':running') or ''

local function counts()
  local waiting, delayed = 0, 0
  if want_counts then
    for _, key in ipairs(KEYS) do waiting = waiting + redis.call('LLEN', key) end
    for i = 5, #ARGV do delayed = delayed + redis.call('ZCARD', ARGV[i]) end
  end
  return waiting, delayed
end

for _, key in ipairs(KEYS) do
  local ident = redis.call('LPOP', key)
  if ident then
    if running ~= '' then redis.call('ZADD', running, now_score, ident) end
    local outcome, status, identifier, attempt, timeout = 'run', '', '', '', ''
    local job_model, pk = job_model_of(ident)
    if not job_model then
      outcome = 'unknown'
    else
      local fields = redis.call('HMGET', hash_key(job_model, pk), 'status', 'identifier', 'timeout')
      if not fields[1] then  -- every queued job has a status: this one does not exist
        outcome = 'missing'
        if running ~= '' then redis.call('ZREM', running, ident) end
      else
        status, identifier, timeout = fields[1], fields[2] or '', fields[3] or ''
        if status == WAITING then
          attempt = start_attempt(job_model, pk, worker, now_str)
        else
          outcome = 'skip'
        end
      end
    end
    local waiting, delayed = counts()
    return {outcome, ident, key, status, waiting, delayed, identifier, attempt, timeout}
  end
end
local waiting, delayed = counts()
return {'empty', '', '', '', waiting, delayed, '', '', ''}
