-- Give back jobs a worker took and never ran (taken ahead), at the front of their queues in their
-- order, as if never taken, atomically.
-- ARGV: worker, now_str, now_score, idents...
-- RETURNS: [ident, outcome]...
-- RETRY: safe, jobs given back already are not held by the worker any more
-- idents: in the order they were taken. Each one still RUNNING under an attempt of this worker
-- goes back to the front of its queue as WAITING, its `tries` and the `started` count of its queue
-- as before its take (lib/ends.lua's give_back_lost, as reconcile.lua gives back a lost take); other
-- states are handled as recovery handles them. Each leaves the worker's running set.
local running = key_running(worker)
local result = {}
for i = #idents, 1, -1 do  -- each goes to the front: the last first
  local ident = idents[i]
  local job_model, pk = job_model_of(ident)
  if job_model and redis.call('SISMEMBER', key_collection(job_model), pk) == 1 then
    local outcome = give_back_lost(job_model, pk, ident, worker, now_str, now_score, nil, true)
    if outcome then
      table.insert(result, ident)
      table.insert(result, outcome)
    end
  end
  redis.call('ZREM', running, ident)
end
return result
