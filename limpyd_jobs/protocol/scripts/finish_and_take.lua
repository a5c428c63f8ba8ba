-- Record the successful end of a job and take the next one, in one round trip.
-- KEYS: the waiting lists to take the next job from, highest priority first
-- ARGV: job_model, pk, ident, status, list_key, end_str, keep_queued, worker, only_if, token, end_fields, now_str, now_score, want_counts, delayed_keys...
-- RETURNS: previous, [take.lua's values]
-- The arguments up to end_fields are finish.lua's, the rest take.lua's, for the same worker. The next
-- job is taken only if the end was recorded (the job's status was only_if).
local previous = finish(job_model, pk, ident, status, list_key, end_str, keep_queued, worker, only_if, token,
                       '', end_fields)
if previous ~= only_if then return {previous} end
local known = {[string.match(ident, '^(.+):[^:]+$') or ''] = job_model}  -- its hash was found so: no lookup
return take_next(KEYS, worker, now_str, now_score, want_counts == '1', delayed_keys, false, nil, nil, known,
                 previous)
