-- Delete the oldest finished jobs of a queue's success or errors list, atomically.
-- ARGV: list_key, keep, limit, cutoff, now_score, models_json
-- RETURNS: removed, [ident]...
-- list_key: the queue's `success` or `errors` list; keep: entries to keep (-1: no count limit);
-- limit: at most this many entries examined; cutoff: entries of jobs ended before this stored
-- date string go too ('' for none); now_score: the time now (a job whose hash has a
-- `finished_ttl` in seconds goes once its `end` is that old, its own limit instead of the cutoff);
-- models_json: job model name -> {"indexed": [EqualIndex fields], "keys": [fields stored in keys
-- of their own]}, for every Job model the caller knows.
-- The list holds one entry per end of a run, oldest first. An entry goes if it is beyond the
-- ones to keep, or if its job ended before the cut-off (or its own limit); its job is deleted (hash, index
-- entries, own keys, collection) only if finished: SUCCESS or ERROR and no longer queued (a
-- job requeued after an error stays). Jobs of models not described are left (entry removed).
-- The result counts the entries removed, then lists the jobs deleted.
local models = cjson.decode(models_json)
local keep_count = tonumber(keep)
local length = redis.call('LLEN', list_key)
local excess = keep_count < 0 and 0 or math.max(length - keep_count, 0)
if length == 0 then return {0} end
local now = tonumber(now_score)
local examined = tonumber(limit)
if excess == 0 and cutoff == '' then examined = math.min(examined, 100) end  -- jobs with their own limit only
local candidates = redis.call('LRANGE', list_key, 0, examined - 1)
local result, removed = {0}, 0
for _, ident in ipairs(candidates) do
  local job_model, pk = job_model_of(ident)
  local description = job_model and models[job_model]
  local key = description and key_hash(job_model, pk)
  if removed >= excess then  -- within the ones to keep: only an age limit removes it
    local found = key and redis.call('HMGET', key, 'end', 'finished_ttl') or {}
    local ended, ttl = found[1], tonumber(found[2])
    if not ended then break end
    if ttl then
      if (epoch_of(ended) or now) + ttl > now then break end
    elseif cutoff == '' or ended >= cutoff then break end
  end
  removed = removed + 1
  if key then
    local state = redis.call('HMGET', key, 'status', 'queued')
    if (state[1] == SUCCESS or state[1] == ERROR) and not state[2] then
      if #description.indexed > 0 then
        local values = redis.call('HMGET', key, unpack(description.indexed))
        for i, field in ipairs(description.indexed) do
          if values[i] then redis.call('SREM', key_index(job_model, field, values[i]), pk) end
        end
      end
      for _, field in ipairs(description.keys) do redis.call('DEL', key_field(job_model, pk, field)) end
      redis.call('DEL', key)
      redis.call('SREM', key_collection(job_model), pk)
      table.insert(result, ident)
    end
  end
end
if removed > 0 then redis.call('LTRIM', list_key, removed, -1) end
result[1] = removed
return result
