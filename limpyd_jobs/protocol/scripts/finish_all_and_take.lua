-- Record the successful ends of several jobs of a worker and take its next jobs, in one round trip.
-- KEYS: the waiting lists to take the next jobs from, highest priority first
-- ARGV: worker, now_str, now_score, want_counts, count, ends, delayed_keys...
-- RETURNS: [previous]..., [take.lua's values]...
-- delayed_keys: take.lua's, after `ends` times seven values, job_model, pk, ident, list_key, end_str,
-- token, end_fields (each end as finish.lua writes a success: SUCCESS only if still RUNNING under this token;
-- the writes they share are made once, see finish_successes). previous: finish.lua's answer for
-- each end, in order; then up to count jobs taken as take_many.lua takes them (none if count is
-- 0). Not sent again after a lost reply (its take may have run): the worker writes the ends alone
-- (sent again: an end written already answers as written) and gives back what the lost take held
-- (reconcile.lua).
local n, values, ended = tonumber(ends), delayed_keys, {}
for i = 1, n do
  local at = i * 7 - 7
  ended[i] = {job_model = values[at + 1], pk = values[at + 2], ident = values[at + 3], list = values[at + 4],
              end_str = values[at + 5], token = values[at + 6], end_fields = values[at + 7]}
end
local result = finish_successes(worker, ended)
if tonumber(count) > 0 then
  local keys, known = {}, {}
  for i = n * 7 + 1, #values do keys[i - n * 7] = values[i] end
  for i = 1, n do  -- the model names of the ends written: their hashes were found so
    local e = ended[i]
    if result[i] == RUNNING then known[string.match(e.ident, '^(.+):[^:]+$') or ''] = e.job_model end
  end
  local taken = take_batch(KEYS, worker, now_str, now_score, want_counts == '1', keys, false, tonumber(count), known)
  for i = 1, #taken do result[n + i] = taken[i] end
end
return result
