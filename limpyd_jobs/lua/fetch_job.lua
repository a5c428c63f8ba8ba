-- Take the first job of the first non-empty waiting list and start it, atomically.
-- KEYS: the waiting lists to look at, highest priority first.
-- ARGV[1] worker id ('' for none: no running set, no attempt token)   ARGV[2] now (stored string)
-- ARGV[3] now (score)   ARGV[4] count waiting/delayed jobs (1) or not (0)
-- ARGV[5] the worker was just woken up (1): it wakes another idle worker if jobs remain
-- ARGV[6..] delayed sets, only counted
-- The job goes from its waiting list to the worker's running set in the same step, so a
-- taken job is always somewhere. Its status becomes RUNNING, `start` is set, `tries` + 1,
-- and `attempt` = "<worker id>:<tries>" only if it was WAITING; otherwise the caller decides
-- (skip, delay) from the status.
-- Returns {outcome, ident, waiting_key, status, waiting_count, delayed_count, identifier, attempt,
--          timeout (the job's own `timeout` field, or '')}
-- with outcome one of 'run', 'skip' (not WAITING), 'missing' (no such job),
-- 'unknown' (its model is not registered), or 'empty' (nothing waiting).
local delayed_keys = {}
for i = 6, #ARGV do delayed_keys[#delayed_keys + 1] = ARGV[i] end
return take_next(KEYS, ARGV[1], ARGV[2], ARGV[3], ARGV[4] == '1', delayed_keys, ARGV[5] == '1')
