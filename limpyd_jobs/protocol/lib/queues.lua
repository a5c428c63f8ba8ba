-- Queues: their lists, due sets, wake-up tokens, and putting a job in one.
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

-- The pk of the queue (name, priority), created if missing. Returns pk, created (0/1).
local function get_or_create_queue(queue_model, name, priority)
  local found = find_by_index(queue_model, 'name', name, 'priority', priority)
  if found then return found, 0 end
  local pk = new_instance(queue_model)
  set_field(queue_model, pk, 'name', name, true)
  set_field(queue_model, pk, 'priority', priority, true)
  return pk, 1
end

-- A list (or the delayed sorted set) of a queue given by its model and pk.
local function queue_list(queue_model, queue_pk, list)
  return key_queue_list(key_queue(queue_model, queue_pk), list)
end

-- The model and pk of a queue, from its name as key_queue makes it.
local function queue_parts(queue)
  return string.match(queue, '^(.+):([^:]+)$')
end

-- The `name` field of a queue, from its name as key_queue makes it.
local function queue_name_of(queue)
  local queue_model, queue_pk = queue_parts(queue)
  return redis.call('HGET', key_hash(queue_model, queue_pk), 'name') or ''
end

local WAKEUP_TOKENS_MAX = 64

-- Wake idle workers of the queue name, one per job; tokens are only hints, capped in number.
-- Enqueues push one only when the waiting list was empty (a busy worker finds the rest), and a
-- worker woken by one passes a token on if it leaves jobs behind (see take_next).
local function wake_up(queue_model, name, count)
  local key = key_wakeup(queue_model, name)
  local tokens = {}
  for i = 1, math.min(count, WAKEUP_TOKENS_MAX) do tokens[i] = '1' end
  if redis.call('RPUSH', key, unpack(tokens)) > WAKEUP_TOKENS_MAX then
    redis.call('LTRIM', key, -WAKEUP_TOKENS_MAX, -1)
  end
end

-- Wake an idle worker of a queue, given by its name as key_queue makes it.
local function wake_up_queue(queue)
  wake_up((queue_parts(queue)), queue_name_of(queue), 1)
end

-- Wake a worker up to read its control key at once (one token: its list holds one at most).
local function wake_worker(worker)
  local key = key_worker_wakeup(worker)
  redis.call('RPUSH', key, '1')
  redis.call('LTRIM', key, -1, -1)
end

-- The members of a due set (a sorted set scored by due time) due at `now`, oldest first, at
-- most `limit` ('' or nil: all); they leave the set, or move to `reschedule_at` when given.
local function due_take(key, now, limit, reschedule_at)
  local due
  if limit and limit ~= '' then
    due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(limit))
  else
    due = redis.call('ZRANGEBYSCORE', key, '-inf', now)
  end
  for _, member in ipairs(due) do
    if reschedule_at and reschedule_at ~= '' then
      redis.call('ZADD', key, reschedule_at, member)
    else
      redis.call('ZREM', key, member)
    end
  end
  return due
end

-- The lowest score of some due sets (when the first of their members is due), '' if all are
-- empty; sizes (optional): the number of members of each, when known (an empty one is not read).
local function next_due(keys, sizes)
  local first
  for i, key in ipairs(keys) do
    if not sizes or sizes[i] > 0 then
      local found = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
      if found and (not first or tonumber(found) < tonumber(first)) then first = found end
    end
  end
  return first or ''
end

-- Put a job in the waiting list of a queue, or in its delayed sorted set when
-- delayed_score is in the future; sets status, delayed_until, queued, and queue_key (the
-- queue's name as key_queue makes it, from which its list keys derive). old_status and
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
  table.insert(fields, key_queue(queue_model, queue_pk))
  if score and score > tonumber(now_score) then
    status = DELAYED
    table.insert(fields, 'delayed_until')
    table.insert(fields, delayed_str)
    local delayed = queue_list(queue_model, queue_pk, 'delayed')
    redis.call('ZADD', delayed, score, ident)
    -- due before any other: an idle worker wakes up to learn when (see next_due)
    if redis.call('ZRANGE', delayed, 0, 0)[1] == ident then wake_up(queue_model, queue_name, 1) end
  else
    if old_status then redis.call('HDEL', key_hash(job_model, pk), 'delayed_until') end  -- no delay (any more)
    local waiting = queue_list(queue_model, queue_pk, 'waiting')
    if redis.call(prepend == '1' and 'LPUSH' or 'RPUSH', waiting, ident) == 1 then
      wake_up(queue_model, queue_name, 1)
    end
  end
  table.insert(fields, 'status')
  table.insert(fields, status)
  redis.call('HSET', key_hash(job_model, pk), unpack(fields))
  reindex(job_model, pk, 'status', old_status, status)
  reindex(job_model, pk, 'queued', old_queued, '1')
end
