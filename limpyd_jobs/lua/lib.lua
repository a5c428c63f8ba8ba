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

-- Move pk from the EqualIndex set of an indexed field's old value (known, or false) to the
-- set of its new value (or to none when new is false); the hash itself is written by the caller.
local function reindex(model, pk, field, old, new)
  if old == new then return end
  if old then redis.call('SREM', model .. ':' .. field .. ':' .. old, pk) end
  if new then redis.call('SADD', model .. ':' .. field .. ':' .. new, pk) end
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

-- Wake idle workers of the queue name, one per job; tokens are only hints, capped in number.
-- Enqueues push one only when the waiting list was empty (a busy worker finds the rest), and a
-- worker woken by one passes a token on if it leaves jobs behind (see take_next).
local function wake_up(queue_model, name, count)
  local key = queue_model .. ':wakeup:' .. name
  local tokens = {}
  for i = 1, math.min(count, WAKEUP_TOKENS_MAX) do tokens[i] = '1' end
  if redis.call('RPUSH', key, unpack(tokens)) > WAKEUP_TOKENS_MAX then
    redis.call('LTRIM', key, -WAKEUP_TOKENS_MAX, -1)
  end
end

-- Put a job in the waiting list of a queue, or in its delayed sorted set when
-- delayed_score is in the future; sets status, delayed_until, queued, and queue_key (the
-- queue's "<queue model name>:<pk>", from which its list keys derive). old_status and
-- old_queued are the job's current values (false for a new job), to keep indexes in step;
-- fields (optional) are more field/value pairs to write in the same HSET.
local function enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name,
                                delayed_str, delayed_score, now_score, prepend, old_status, old_queued,
                                fields)
  local score = tonumber(delayed_score)
  local status = WAITING
  fields = fields or {}
  table.insert(fields, 'queued')
  table.insert(fields, '1')
  table.insert(fields, 'queue_key')
  table.insert(fields, queue_model .. ':' .. queue_pk)
  if delayed_str ~= '' then
    table.insert(fields, 'delayed_until')
    table.insert(fields, delayed_str)
  end
  if score and score > tonumber(now_score) then
    status = DELAYED
    redis.call('ZADD', queue_key(queue_model, queue_pk, 'delayed'), score, ident)
  else
    local waiting = queue_key(queue_model, queue_pk, 'waiting')
    if redis.call(prepend == '1' and 'LPUSH' or 'RPUSH', waiting, ident) == 1 then
      wake_up(queue_model, queue_name, 1)
    end
  end
  table.insert(fields, 'status')
  table.insert(fields, status)
  redis.call('HSET', hash_key(job_model, pk), unpack(fields))
  reindex(job_model, pk, 'status', old_status, status)
  reindex(job_model, pk, 'queued', old_queued, '1')
end

-- Record which limpyd model a Job model repr (the start of its idents) is.
local function register_model(repr, job_model)
  redis.call('HSET', REGISTRY, repr, job_model)
end

-- Start an attempt of a WAITING job: RUNNING, `start`, `tries` + 1, and its attempt token.
local function start_attempt(job_model, pk, worker, now_str, tries)
  local key = hash_key(job_model, pk)
  tries = (tonumber(tries) or 0) + 1
  local attempt = worker .. ':' .. tries
  redis.call('HSET', key, 'status', RUNNING, 'start', now_str, 'attempt', attempt, 'tries', tries)
  reindex(job_model, pk, 'status', WAITING, RUNNING)
  return attempt
end

-- The limpyd name of the Job model whose repr starts an ident, from the models registry.
local function job_model_of(ident)
  local repr, pk = string.match(ident, '^(.+):([^:]+)$')
  if not repr then return nil, nil end
  return redis.call('HGET', REGISTRY, repr), pk
end

-- Take the first job of the first non-empty waiting list (see fetch_job.lua for the result).
local function take_next(waiting_keys, worker, now_str, now_score, want_counts, delayed_keys, pass_on)
  local running = worker ~= '' and ('limpyd-jobs:worker:' .. worker .. ':running') or ''
  local function counts()
    local waiting, delayed = 0, 0
    if want_counts then
      for _, key in ipairs(waiting_keys) do waiting = waiting + redis.call('LLEN', key) end
      for _, key in ipairs(delayed_keys) do delayed = delayed + redis.call('ZCARD', key) end
    end
    return waiting, delayed
  end
  for _, key in ipairs(waiting_keys) do
    local ident = redis.call('LPOP', key)
    if ident then
      if running ~= '' then redis.call('ZADD', running, now_score, ident) end
      local outcome, status, identifier, attempt, timeout = 'run', '', '', '', ''
      local job_model, pk = job_model_of(ident)
      if not job_model then
        outcome = 'unknown'
      else
        local fields = redis.call('HMGET', hash_key(job_model, pk), 'status', 'identifier', 'timeout', 'tries')
        if not fields[1] then  -- every queued job has a status: this one does not exist
          outcome = 'missing'
          if running ~= '' then redis.call('ZREM', running, ident) end
        else
          status, identifier, timeout = fields[1], fields[2] or '', fields[3] or ''
          if status == WAITING then
            attempt = start_attempt(job_model, pk, worker, now_str, fields[4])
          else
            outcome = 'skip'
          end
        end
      end
      if pass_on and redis.call('LLEN', key) > 0 then  -- woken up: wake another idle worker
        local queue = string.match(key, '^(.+):waiting$')
        wake_up(string.match(queue, '^(.+):[^:]+$'), redis.call('HGET', queue .. ':hash', 'name') or '', 1)
      end
      local waiting, delayed = counts()
      return {outcome, ident, key, status, waiting, delayed, identifier, attempt, timeout}
    end
  end
  local waiting, delayed = counts()
  return {'empty', '', '', '', waiting, delayed, '', '', ''}
end

-- Record the end of a job's run (see finish_job.lua for the arguments and the result).
local function finish(job_model, pk, ident, status, list, end_str, keep_queued, running, only_if, token)
  local key = hash_key(job_model, pk)
  local current = redis.call('HMGET', key, 'status', 'attempt', 'queued')
  local previous = current[1]
  local refused = nil
  if not previous then
    refused = '!missing'
  elseif token ~= '' and current[2] ~= token then
    refused = '!stale'
  end
  if refused then
    if running ~= '' then redis.call('ZREM', running, ident) end
    return refused
  end
  if only_if ~= '' and previous ~= only_if then return previous end
  local fields = {}
  if status ~= '' then
    fields = {'status', status}
    reindex(job_model, pk, 'status', previous, status)
  end
  if end_str ~= '' then
    table.insert(fields, 'end')
    table.insert(fields, end_str)
  end
  if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
  if list ~= '' then redis.call('RPUSH', list, ident) end
  if keep_queued ~= '1' then
    if current[3] then
      reindex(job_model, pk, 'queued', current[3], false)
      redis.call('HDEL', key, 'queued')
    end
    if running ~= '' then redis.call('ZREM', running, ident) end
  end
  return previous
end

-- The pk of the queued job of this model with this identifier, or nil.
local function find_queued(job_model, identifier)
  local existing = redis.call('SINTER', job_model .. ':identifier:' .. identifier, job_model .. ':queued:1')
  if #existing == 0 then return nil end
  table.sort(existing, function(a, b) return tonumber(a) < tonumber(b) end)
  return existing[1]
end

-- add_job's rules for a job already queued: a higher priority raises it (and moves it to that
-- queue), prepend moves a waiting job to the front; nothing else changes.
-- Returns {pk, 0, queue_pk or '', queue_created (0/1)}
local function readd_existing(job_model, repr, pk, queue_model, queue_name, priority, now_score, prepend)
  local ident = repr .. ':' .. pk
  local fields = redis.call('HMGET', hash_key(job_model, pk), 'status', 'priority', 'queue_key', 'delayed_until')
  local status, current, old_queue = fields[1], tonumber(fields[2]) or 0, fields[3]
  local higher = priority > current
  if status == WAITING and (higher or prepend == '1') then
    local new_priority = math.max(priority, current)
    if old_queue then redis.call('LREM', old_queue .. ':waiting', 0, ident) end
    set_field(job_model, pk, 'priority', tostring(new_priority), true)
    local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, new_priority)
    enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name, '', '', now_score, prepend,
                     status, '1')
    return {pk, 0, queue_pk, queue_created}
  elseif status == DELAYED and higher then
    local score = nil
    if old_queue then
      score = redis.call('ZSCORE', old_queue .. ':delayed', ident)
      redis.call('ZREM', old_queue .. ':delayed', ident)
    end
    set_field(job_model, pk, 'priority', tostring(priority), true)
    local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
    enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name,
                     fields[4] or '', score or '', now_score, '0', status, '1')
    return {pk, 0, queue_pk, queue_created}
  end
  return {pk, 0, '', 0}
end

-- Create a job and queue it (add_job for an identifier not queued). fields: more field/value
-- pairs of the new job; indexed: the names among them that have an EqualIndex.
-- Returns pk, queue_pk, queue_created (0/1)
local function create_job(job_model, repr, queue_model, queue_name, priority, identifier, now_str,
                          now_score, delayed_str, delayed_score, prepend, fields, indexed)
  local pk = new_instance(job_model)
  local values = {'identifier', identifier, 'priority', tostring(priority), 'added', now_str}
  reindex(job_model, pk, 'identifier', false, identifier)
  reindex(job_model, pk, 'priority', false, tostring(priority))
  for i = 1, #fields, 2 do
    table.insert(values, fields[i])
    table.insert(values, fields[i + 1])
    if indexed[fields[i]] then reindex(job_model, pk, fields[i], false, fields[i + 1]) end
  end
  local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
  enqueue_or_delay(job_model, pk, repr .. ':' .. pk, queue_model, queue_pk, queue_name,
                   delayed_str, delayed_score, now_score, prepend, false, false, values)
  return pk, queue_pk, queue_created
end
