-- Delete the oldest finished jobs of a queue's success and errors lists, a slice at a time, atomically.
-- ARGV: keep, limit, cutoff, now_score, models_json, error_model, list_keys...
-- RETURNS: full, deleted, [ident]..., [error_pk]...
-- RETRY: safe, it deletes what is beyond `keep` or older than the cut-off when it runs: again, nothing more
-- keep: entries to keep per list (-1: no count limit); limit: at most this many entries examined
-- per list (a slice: it bounds the time Redis is blocked, about 7 us per job deleted); cutoff:
-- entries of jobs ended before this stored date string go too ('' for none); now_score: the
-- time now (a job whose hash has a `finished_ttl` in seconds goes once its `end` is that old: its
-- own limit instead of the cut-off; without count or cut-off, TTL_SLICE entries are examined at
-- most, a bound for a purge of such jobs only); models_json: job
-- model name -> {"indexed": [EqualIndex fields], "keys": [fields stored in keys of their own]},
-- for every Job model the caller knows; error_model: the limpyd name of the Error model whose
-- `job_model_repr` and `job_pk` have EqualIndexes ('' for none); list_keys: a queue's `success`
-- and `errors` lists (one entry per end of a run, oldest first).
-- An entry goes if it is beyond the ones to keep, or if its job ended before the cut-off (or its
-- own limit); its
-- job is deleted (hash, index entries, own keys, collection) only if finished: SUCCESS or ERROR
-- and no longer queued (a job requeued after an error stays). Jobs of models not described, and
-- keys that are not hashes (malformed data), are left (entry removed). full: 1 if a list had all
-- entries it examined removed (it may have more to remove), else 0; then the jobs deleted and up to `limit` pks of errors to delete: the deleted
-- jobs' errors wait in a set for the caller to delete them (their date index is limpyd's), so
-- that a lost reply leaves them to the next purge.
local models, keep_count, slice = cjson.decode(models_json), tonumber(keep), tonumber(limit)
local now, TTL_SLICE = tonumber(now_score), 100
local result, errors, full = {0, 0}, {}, 0
local members, keys, gone = {}, {}, {}  -- set key -> pks to remove; keys to delete; idents deleted
local function forget(set_key, pk)
  members[set_key] = members[set_key] or {}
  table.insert(members[set_key], pk)
end
-- Delete a finished job (the writes its index and collection removals share are made at the end).
local function delete(ident, job_model, pk, description, values)
  for i, field in ipairs(description.indexed) do
    if values[i + 2] then forget(key_index(job_model, field, values[i + 2]), pk) end
  end
  for _, field in ipairs(description.keys) do table.insert(keys, key_field(job_model, pk, field)) end
  table.insert(keys, key_hash(job_model, pk))
  forget(key_collection(job_model), pk)
  gone[ident] = true
  table.insert(result, ident)
  if error_model ~= '' then  -- its errors: those of its model repr (the ident's start) and pk
    local model_repr = string.sub(ident, 1, -#pk - 2)
    local found = redis.call('SINTER', key_index(error_model, 'job_model_repr', model_repr),
                             key_index(error_model, 'job_pk', pk))
    for _, error_pk in ipairs(found) do table.insert(errors, error_pk) end
  end
end
for _, list_key in ipairs(list_keys) do
  local excess = keep_count < 0 and 0 or math.max(redis.call('LLEN', list_key) - keep_count, 0)
  local removed, examined = 0, (excess > 0 or cutoff ~= '') and slice or math.min(slice, TTL_SLICE)
  if examined > 0 then
    for _, ident in ipairs(redis.call('LRANGE', list_key, 0, examined - 1)) do
      local job_model, pk = job_model_of(ident)
      local description = job_model and models[job_model]
      local key = description and not gone[ident] and key_hash(job_model, pk)
      if removed >= excess then  -- within the ones to keep: only an age limit removes it
        local found = key and redis.pcall('HMGET', key, 'end', 'finished_ttl') or {}
        if found.err then found = {} end  -- not a hash (malformed): no end, as no job
        local ended, ttl = found[1], tonumber(found[2])
        if not ended then break end
        if ttl then
          if (epoch_of(ended) or now) + ttl > now then break end
        elseif cutoff == '' or ended >= cutoff then break end
      end
      removed = removed + 1
      if key then
        local values = redis.pcall('HMGET', key, 'status', 'queued', unpack(description.indexed))
        if not values.err and (values[1] == SUCCESS or values[1] == ERROR) and not values[2] then
          delete(ident, job_model, pk, description, values)
        end
      end
    end
  end
  if removed > 0 then redis.call('LTRIM', list_key, removed, -1) end
  if removed >= examined and removed > 0 then full = 1 end
end
for set_key, pks in pairs(members) do redis.call('SREM', set_key, unpack(pks)) end
if #keys > 0 then redis.call('DEL', unpack(keys)) end
result[1], result[2] = full, #result - 2
if error_model ~= '' then
  local pending = key_purged_errors(error_model)
  if #errors > 0 then redis.call('SADD', pending, unpack(errors)) end
  for _, error_pk in ipairs(redis.call('SRANDMEMBER', pending, slice)) do table.insert(result, error_pk) end
end
return result
