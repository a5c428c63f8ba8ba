-- Shared helpers, prepended to every script by limpyd_jobs.lua.
-- They write exactly the keys redis-limpyd writes, so collections and filters keep working:
--   <model>:<pk>:hash        the instance hash (every InstanceHashField)
--   <model>:<field>:<value>  the EqualIndex set holding the pks whose <field> is <value>
--   <model>:collection       the set of all pks of the model
--   <model>:max_pk           the AutoPKField counter
-- <model> is a model's limpyd name, e.g. "jobs:job" or "jobs:queue".

local WAITING, RUNNING, SUCCESS, ERROR, CANCELED, DELAYED = 'w', 'r', 's', 'e', 'c', 'd'
local WAKEUP_TOKENS_MAX = 64
-- Hash of Job model repr (ident prefix) -> limpyd model name, filled on every enqueue.
local REGISTRY = 'limpyd-jobs:job-models'

local function hash_key(model, pk)
  return model .. ':' .. pk .. ':hash'
end

-- Set a hash field, keeping its EqualIndex in step when the field is indexed.
local function set_field(model, pk, field, value, indexed)
  local key = hash_key(model, pk)
  if indexed then
    local old = redis.call('HGET', key, field)
    if old == value then return end
    if old then redis.call('SREM', model .. ':' .. field .. ':' .. old, pk) end
    redis.call('SADD', model .. ':' .. field .. ':' .. value, pk)
  end
  redis.call('HSET', key, field, value)
end

-- Remove a hash field, and its pk from the field's EqualIndex when indexed.
local function del_field(model, pk, field, indexed)
  local key = hash_key(model, pk)
  if indexed then
    local old = redis.call('HGET', key, field)
    if old then redis.call('SREM', model .. ':' .. field .. ':' .. old, pk) end
  end
  redis.call('HDEL', key, field)
end

-- Create a new instance: a fresh AutoPKField pk, added to the model's collection.
local function new_instance(model)
  local pk = tostring(redis.call('INCR', model .. ':max_pk'))
  redis.call('SADD', model .. ':collection', pk)
  return pk
end

-- The pk of the queue (name, priority), created if missing. Returns pk, created (0/1).
local function get_or_create_queue(queue_model, name, priority)
  local found = redis.call('SINTER', queue_model .. ':name:' .. name, queue_model .. ':priority:' .. priority)
  if #found > 0 then
    table.sort(found, function(a, b) return tonumber(a) < tonumber(b) end)
    return found[1], 0
  end
  local pk = new_instance(queue_model)
  set_field(queue_model, pk, 'name', name, true)
  set_field(queue_model, pk, 'priority', priority, true)
  return pk, 1
end

local function queue_key(queue_model, queue_pk, field)
  return queue_model .. ':' .. queue_pk .. ':' .. field
end

-- Wake one idle worker of the queue name; tokens are only hints, capped in number.
local function wake_up(queue_model, name, count)
  local key = queue_model .. ':wakeup:' .. name
  for _ = 1, math.min(count, WAKEUP_TOKENS_MAX) do redis.call('RPUSH', key, '1') end
  redis.call('LTRIM', key, -WAKEUP_TOKENS_MAX, -1)
end

-- Put a job in the waiting list of a queue, or in its delayed sorted set when
-- delayed_score is in the future; sets status, delayed_until, queued, and queue_key (the
-- queue's "<queue model name>:<pk>", from which its list keys derive).
local function enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name,
                                delayed_str, delayed_score, now_score, prepend)
  local score = tonumber(delayed_score)
  if score and score > tonumber(now_score) then
    set_field(job_model, pk, 'status', DELAYED, true)
    set_field(job_model, pk, 'delayed_until', delayed_str, false)
    redis.call('ZADD', queue_key(queue_model, queue_pk, 'delayed'), score, ident)
  else
    set_field(job_model, pk, 'status', WAITING, true)
    if delayed_str ~= '' then set_field(job_model, pk, 'delayed_until', delayed_str, false) end
    local waiting = queue_key(queue_model, queue_pk, 'waiting')
    redis.call(prepend == '1' and 'LPUSH' or 'RPUSH', waiting, ident)
    wake_up(queue_model, queue_name, 1)
  end
  set_field(job_model, pk, 'queued', '1', true)
  set_field(job_model, pk, 'queue_key', queue_model .. ':' .. queue_pk, false)
  redis.call('HSET', REGISTRY, string.match(ident, '^(.+):[^:]+$'), job_model)
end

-- Start an attempt of a WAITING job: RUNNING, `start`, `tries` + 1, and its attempt token.
local function start_attempt(job_model, pk, worker, now_str)
  set_field(job_model, pk, 'status', RUNNING, true)
  set_field(job_model, pk, 'start', now_str, false)
  local tries = redis.call('HINCRBY', hash_key(job_model, pk), 'tries', 1)
  local attempt = worker .. ':' .. tries
  redis.call('HSET', hash_key(job_model, pk), 'attempt', attempt)
  return attempt
end

-- The limpyd name of the Job model whose repr starts an ident, from the models registry.
local function job_model_of(ident)
  local repr, pk = string.match(ident, '^(.+):([^:]+)$')
  if not repr then return nil, nil end
  return redis.call('HGET', REGISTRY, repr), pk
end
