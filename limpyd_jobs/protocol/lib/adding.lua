-- Adding a job: a new one, or the rules for an identifier already queued.
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

-- The job queued with this identifier in a queue of this name (one job per identifier and queue
-- name), and its status, priority, queue_key and delayed_until; nil if none. A job without a
-- queue_key (left by redis-limpyd-jobs 2, whose rule was one job per identifier) matches any name.
local function find_queued(job_model, queue_model, identifier, queue_name)
  local found = redis.call('SINTER', key_index(job_model, 'identifier', identifier),
                           key_index(job_model, 'queued', '1'))
  if #found == 0 then return nil end  -- a new identifier: the common case
  if #found > 1 then table.sort(found, function(a, b) return tonumber(a) < tonumber(b) end) end
  for _, pk in ipairs(found) do
    local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'priority', 'queue_key', 'delayed_until')
    local queue_pk = fields[3] and string.match(fields[3], ':([^:]+)$')
    if not queue_pk or redis.call('HGET', key_hash(queue_model, queue_pk), 'name') == queue_name then
      return pk, fields
    end
  end
  return nil
end

-- add_job's rules for a job already queued (fields: find_queued's): a higher priority raises it
-- (and moves it to that queue), prepend moves a waiting job to the front; nothing else changes.
-- Returns {pk, 0, queue_pk or '', queue_created (0/1)}
local function readd_existing(job_model, model_repr, pk, fields, queue_model, queue_name, priority, now_score,
                              prepend)
  local ident = model_repr .. ':' .. pk
  local status, current, old_queue = fields[1], tonumber(fields[2]) or 0, fields[3]
  local higher = priority > current
  if status == WAITING and (higher or prepend == '1') then
    local new_priority = math.max(priority, current)
    if old_queue then redis.call('LREM', key_queue_list(old_queue, 'waiting'), 0, ident) end
    redis.call('HSET', key_hash(job_model, pk), 'priority', tostring(new_priority))  -- no index: scanned
    local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, new_priority)
    enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name, '', '', now_score, prepend,
                     status, '1')
    return {pk, 0, queue_pk, queue_created}
  elseif status == DELAYED and higher then
    local score = nil
    if old_queue then
      score = redis.call('ZSCORE', key_queue_list(old_queue, 'delayed'), ident)
      redis.call('ZREM', key_queue_list(old_queue, 'delayed'), ident)
    end
    redis.call('HSET', key_hash(job_model, pk), 'priority', tostring(priority))
    local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
    enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name,
                     fields[4] or '', score or '', now_score, '0', status, '1')
    return {pk, 0, queue_pk, queue_created}
  end
  return {pk, 0, '', 0}
end

-- Create a job and queue it (add_job for an identifier not queued in a queue of that name). fields: more fields
-- of the new job by threes, as add_job takes them: name, value, indexed (0/1). adopt (optional):
-- the pk of an instance made already, with its identifier and priority, to make the job of.
-- No `added` history event is written: readers derive it from the job's `added` field. A job
-- put in a waiting list gets what enqueue_or_delay writes, each key made once and, with no more
-- fields, no table built (the hot path of an add: Lua work costs Redis more than its commands).
-- Returns pk, queue_pk, queue_created (0/1)
local function create_job(job_model, model_repr, queue_model, queue_name, priority, identifier, now_str,
                          now_score, delayed_str, delayed_score, prepend, fields, adopt)
  local pk = adopt
  if not adopt then
    pk = tostring(redis.call('INCR', key_max_pk(job_model)))
    redis.call('SADD', key_collection(job_model), pk)
    redis.call('SADD', key_index(job_model, 'identifier', identifier), pk)  -- priority: no index set
  end
  for i = 1, #fields, 3 do
    if fields[i + 2] == '1' then reindex(job_model, pk, fields[i], false, fields[i + 1]) end
  end
  local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
  local ident = model_repr .. ':' .. pk
  local delayed = delayed_score ~= '' and tonumber(delayed_score) > tonumber(now_score)
  local values  -- the fields as a table, only when the HSET cannot name them
  if adopt or delayed or #fields > 0 then
    values = adopt and {'added', now_str} or {'identifier', identifier, 'priority', priority, 'added', now_str}
    local n = #values
    for i = 1, #fields, 3 do values[n + 1], values[n + 2], n = fields[i], fields[i + 1], n + 2 end
  end
  if delayed then
    enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name,
                     delayed_str, delayed_score, now_score, prepend, false, false, values)
    return pk, queue_pk, queue_created
  end
  local queue = key_queue(queue_model, queue_pk)
  if redis.call(prepend == '1' and 'LPUSH' or 'RPUSH', key_queue_list(queue, 'waiting'), ident) == 1 then
    wake_up(queue_model, queue_name, 1)
  end
  if values then
    local n = #values
    values[n + 1], values[n + 2], values[n + 3], values[n + 4] = 'queued', '1', 'queue_key', queue
    values[n + 5], values[n + 6] = 'status', WAITING
    redis.call('HSET', key_hash(job_model, pk), unpack(values))
  else
    redis.call('HSET', key_hash(job_model, pk), 'identifier', identifier, 'priority', priority, 'added', now_str,
               'queued', '1', 'queue_key', queue, 'status', WAITING)
  end
  redis.call('SADD', key_index(job_model, 'status', WAITING), pk)
  redis.call('SADD', key_index(job_model, 'queued', '1'), pk)
  return pk, queue_pk, queue_created
end
