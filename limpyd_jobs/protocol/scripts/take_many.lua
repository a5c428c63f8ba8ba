-- Take up to count jobs, each as take.lua takes one (highest priority first), atomically.
-- KEYS: the waiting lists to look at, highest priority first
-- ARGV: worker, now_str, now_score, want_counts, pass_on, count, delayed_keys...
-- RETURNS: [take.lua's values]...
-- Each job taken goes to the worker's running set with its own attempt token, as with take.lua.
-- The reply holds take.lua's values for each job taken, one after the other, and ends with an
-- empty take if the lists ran dry before count jobs; the counts and next_due are those of the
-- last take (the others leave them out).
return take_batch(KEYS, worker, now_str, now_score, want_counts == '1', delayed_keys,
                  pass_on == '1' and wake_up_queue, tonumber(count))
