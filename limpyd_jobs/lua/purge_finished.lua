-- Delete the oldest finished jobs of a queue's success or errors list, atomically.
-- ARGV[1] the list key ("<queue>:success" or "<queue>:errors")
-- ARGV[2] entries to keep (-1: no count limit)   ARGV[3] at most this many entries examined
-- ARGV[4] cut-off: entries of jobs ended before it go, as a stored date string ('' for none)
-- ARGV[5] JSON: job model name -> {"indexed": [EqualIndex fields], "keys": [fields stored in
--         keys of their own]}, for every Job model the caller knows
-- The list holds one entry per end of a run, oldest first. An entry goes if it is beyond the
-- ones to keep, or if its job ended before the cut-off; its job is deleted (hash, index
-- entries, own keys, collection) only if finished: SUCCESS or ERROR and no longer queued (a
-- job requeued after an error stays). Jobs of models not described are left (entry removed).
-- Returns {entries removed, ident of each job deleted...}
local list, keep, limit, cutoff = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local models = cjson.decode(ARGV[5])
local length = redis.call('LLEN', list)
local excess = keep < 0 and 0 or math.max(length - keep, 0)
if excess == 0 and cutoff == '' then return {0} end
local candidates = redis.call('LRANGE', list, 0, limit - 1)
local result, removed = {0}, 0
for _, ident in ipairs(candidates) do
  local job_model, pk = job_model_of(ident)
  local description = job_model and models[job_model]
  local key = description and hash_key(job_model, pk)
  if removed >= excess then  -- within the ones to keep: only an age cut-off removes it
    local ended = key and redis.call('HGET', key, 'end')
    if cutoff == '' or not ended or ended >= cutoff then break end
  end
  removed = removed + 1
  if key then
    local state = redis.call('HMGET', key, 'status', 'queued')
    if (state[1] == SUCCESS or state[1] == ERROR) and not state[2] then
      if #description.indexed > 0 then
        local values = redis.call('HMGET', key, unpack(description.indexed))
        for i, field in ipairs(description.indexed) do
          if values[i] then redis.call('SREM', job_model .. ':' .. field .. ':' .. values[i], pk) end
        end
      end
      for _, field in ipairs(description.keys) do redis.call('DEL', job_model .. ':' .. pk .. ':' .. field) end
      redis.call('DEL', key)
      redis.call('SREM', job_model .. ':collection', pk)
      table.insert(result, ident)
    end
  end
end
if removed > 0 then redis.call('LTRIM', list, removed, -1) end
result[1] = removed
return result
