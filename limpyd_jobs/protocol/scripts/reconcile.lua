-- Give back the jobs of a live worker's running set that the worker does not know it holds (the
-- reply of a take was lost: the take ran, the worker never saw the job), atomically.
-- ARGV: worker, now_str, now_score, known...
-- RETURNS: [ident, outcome]...
-- RETRY: safe, jobs given back already are not in the running set any more
-- known: the idents the worker holds (running, or taken along with the last end). Any other
-- ident of its running set leaves it: a job its lost take started goes back to the front of its
-- queue as WAITING, and that attempt does not count in its `tries`; other states are handled as
-- recovery handles them (lib/ends.lua's give_back_lost).
local holds = {}
for _, ident in ipairs(known) do holds[ident] = true end
local running = key_running(worker)
local result = {}
for _, ident in ipairs(redis.call('ZRANGE', running, 0, -1)) do
  if not holds[ident] then
    local job_model, pk = job_model_of(ident)
    if job_model and redis.call('SISMEMBER', key_collection(job_model), pk) == 1 then
      local outcome = give_back_lost(job_model, pk, ident, worker, now_str, now_score, nil, true)
      if outcome then
        table.insert(result, ident); table.insert(result, outcome)
      end
    end
    redis.call('ZREM', running, ident)
  end
end
return result
