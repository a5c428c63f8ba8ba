-- The limpyd layout: hash fields and their EqualIndex sets, instances, the job models registry.
-- The scripts write exactly the keys redis-limpyd writes, so collections and filters keep working.
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

-- Set a hash field, keeping its EqualIndex in step when the field is indexed.
local function set_field(model, pk, field, value, indexed)
  local key = key_hash(model, pk)
  if indexed then
    local old = redis.call('HGET', key, field)
    if old == value then return end
    if old then redis.call('SREM', key_index(model, field, old), pk) end
    redis.call('SADD', key_index(model, field, value), pk)
  end
  redis.call('HSET', key, field, value)
end

-- Move pk from the EqualIndex set of an indexed field's old value (known, or false) to the
-- set of its new value (or to none when new is false); the hash itself is written by the caller.
-- Old to new is one SMOVE (an SADD too if pk was missing from the old value's set).
local function reindex(model, pk, field, old, new)
  if old == new then return end
  if old and new then
    local target = key_index(model, field, new)
    if redis.call('SMOVE', key_index(model, field, old), target, pk) == 0 then redis.call('SADD', target, pk) end
  elseif old then
    redis.call('SREM', key_index(model, field, old), pk)
  elseif new then
    redis.call('SADD', key_index(model, field, new), pk)
  end
end

-- Remove a hash field, and its pk from the field's EqualIndex when indexed.
local function del_field(model, pk, field, indexed)
  local key = key_hash(model, pk)
  if indexed then
    local old = redis.call('HGET', key, field)
    if old then redis.call('SREM', key_index(model, field, old), pk) end
  end
  redis.call('HDEL', key, field)
end

-- Create a new instance: a fresh AutoPKField pk, added to the model's collection.
local function new_instance(model)
  local pk = tostring(redis.call('INCR', key_max_pk(model)))
  redis.call('SADD', key_collection(model), pk)
  return pk
end

-- The lowest pk among the instances of a model whose indexed fields have these values, or nil.
local function find_by_index(model, field1, value1, field2, value2)
  local found = redis.call('SINTER', key_index(model, field1, value1), key_index(model, field2, value2))
  if #found > 1 then table.sort(found, function(a, b) return tonumber(a) < tonumber(b) end) end
  return found[1]
end

-- A table of the field/value pairs HGETALL replies.
local function hash_table(pairs_list)
  local found = {}
  for i = 1, #pairs_list, 2 do found[pairs_list[i]] = pairs_list[i + 1] end
  return found
end

-- Record which limpyd model a Job model repr (the start of its idents) is.
local function register_model(model_repr, job_model)
  redis.call('HSET', key_job_models(), model_repr, job_model)
end

-- The limpyd name of the Job model whose repr starts an ident (from the models registry), and
-- the job's pk; nil, nil for an ident not of the form repr:pk. known (optional): names by repr
-- known already (a script's ended jobs: their hashes were found under these names), not read.
local function job_model_of(ident, known)
  local model_repr, pk = string.match(ident, '^(.+):([^:]+)$')
  if not model_repr then return nil, nil end
  local name = known and known[model_repr]
  if name then return name, pk end
  return redis.call('HGET', key_job_models(), model_repr), pk
end
