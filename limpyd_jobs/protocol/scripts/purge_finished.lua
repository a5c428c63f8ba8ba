-- Delete the oldest finished jobs of a queue's success or errors list, atomically.
-- ARGV: list_key, keep, limit, cutoff, models_json, error_model
-- RETURNS: removed, deleted, [ident]..., [error_pk]...
-- RETRY: safe, it deletes what is beyond `keep` or older than the cut-off when it runs: again, nothing more
-- list_key: the queue's `success` or `errors` list; keep: entries to keep (-1: no count limit);
-- limit: at most this many entries examined (a slice: it bounds the time Redis is blocked);
-- cutoff: entries of jobs ended before this stored date string go too ('' for none);
-- models_json: job model name -> {"indexed": [EqualIndex fields], "keys": [fields stored in keys
-- of their own]}, for every Job model the caller knows; error_model: the limpyd name of the
-- Error model whose `job_model_repr` and `job_pk` have EqualIndexes ('' for none).
-- The list holds one entry per end of a run, oldest first. An entry goes if it is beyond the
-- ones to keep, or if its job ended before the cut-off; its job is deleted (hash, index
-- entries, own keys, collection) only if finished: SUCCESS or ERROR and no longer queued (a
-- job requeued after an error stays). Jobs of models not described are left (entry removed).
-- The result counts the entries removed (`limit` of them: the list may have more to remove) and
-- the jobs deleted, lists these, then up to `limit` pks of errors to delete: the deleted jobs'
-- errors wait in a set for the caller to delete them (their date index is limpyd's), so that a
-- lost reply leaves them to the next purge.
local models = cjson.decode(models_json)
local keep_count = tonumber(keep)
local length = redis.call('LLEN', list_key)
local excess = keep_count < 0 and 0 or math.max(length - keep_count, 0)
if excess == 0 and cutoff == '' then return {0, 0} end
local candidates = redis.call('LRANGE', list_key, 0, tonumber(limit) - 1)
local result, errors, removed = {0, 0}, {}, 0
local members, keys = {}, {}  -- set key -> pks to remove from it; keys to delete: written at once
local function forget(set_key, pk)
  members[set_key] = members[set_key] or {}
  table.insert(members[set_key], pk)
end
for _, ident in ipairs(candidates) do
  local job_model, pk = job_model_of(ident)
  local description = job_model and models[job_model]
  local key = description and key_hash(job_model, pk)
  if removed >= excess then  -- within the ones to keep: only an age cut-off removes it
    local ended = key and redis.call('HGET', key, 'end')
    if cutoff == '' or not ended or ended >= cutoff then break end
  end
  removed = removed + 1
  if key then
    local values = redis.call('HMGET', key, 'status', 'queued', unpack(description.indexed))
    if (values[1] == SUCCESS or values[1] == ERROR) and not values[2] then
      for i, field in ipairs(description.indexed) do
        if values[i + 2] then forget(key_index(job_model, field, values[i + 2]), pk) end
      end
      for _, field in ipairs(description.keys) do table.insert(keys, key_field(job_model, pk, field)) end
      table.insert(keys, key)
      forget(key_collection(job_model), pk)
      table.insert(result, ident)
      if error_model ~= '' then  -- its errors: those of its model repr (the ident's start) and pk
        local model_repr = string.sub(ident, 1, -#pk - 2)
        local found = redis.call('SINTER', key_index(error_model, 'job_model_repr', model_repr),
                                 key_index(error_model, 'job_pk', pk))
        for _, error_pk in ipairs(found) do table.insert(errors, error_pk) end
      end
    end
  end
end
for set_key, pks in pairs(members) do redis.call('SREM', set_key, unpack(pks)) end
if #keys > 0 then redis.call('DEL', unpack(keys)) end
if removed > 0 then redis.call('LTRIM', list_key, removed, -1) end
result[1], result[2] = removed, #result - 2
if error_model ~= '' then
  local pending = key_purged_errors(error_model)
  if #errors > 0 then redis.call('SADD', pending, unpack(errors)) end
  for _, error_pk in ipairs(redis.call('SRANDMEMBER', pending, tonumber(limit))) do table.insert(result, error_pk) end
end
return result
