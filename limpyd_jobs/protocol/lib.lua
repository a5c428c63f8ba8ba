-- Helpers shared by the scripts; the loader links into each script the ones it calls.
-- They write exactly the keys redis-limpyd writes (the key_* functions, generated from
-- vocabulary.py), so collections and filters keep working. <model> is a model's limpyd name,
-- e.g. "jobs:job" or "jobs:queue". Keep one blank line between blocks and none inside them.

local WAKEUP_TOKENS_MAX = 64

local HISTORY_MAX = 100

-- Append an event to a job's history (its `history` list, the latest HISTORY_MAX kept): a JSON
-- object with `event`, `at` (the date or timestamp of the script's caller, when known) and the
-- details given (a table), written in the script that makes the change it tells.
local function record_event(job_model, pk, event, at, details)
  local entry = details or {}
  entry.event, entry.at = event, at
  local key = key_field(job_model, pk, 'history')
  if redis.call('RPUSH', key, cjson.encode(entry)) > HISTORY_MAX then
    redis.call('LTRIM', key, -HISTORY_MAX, -1)
  end
end

-- Count an event of a queue (given by its name as key_queue makes it) in its metrics (by 1, or
-- by `by`).
local function count_event(queue, field, by)
  redis.call('HINCRBY', key_metrics(queue), field, by or 1)
end

-- Seconds a job's `ended` list keeps its token (see notice_end).
local END_NOTICE_TTL = 60

-- Tell whoever waits for a job's end that it came: a token pushed to its `ended` list, for a job
-- whose hash has `end_notice` set (a task's), at its success; the list expires soon after. (A
-- failure's notice is the job's own, once its Error is saved, after the end: see TaskJob.)
local function notice_end(job_model, pk)
  local key = key_field(job_model, pk, 'ended')
  redis.call('RPUSH', key, '1')
  redis.call('EXPIRE', key, END_NOTICE_TTL)
end

-- The field/value pairs of a JSON array (`end_fields` of the ends: more fields a job writes with
-- its end, a task its result) appended to a table of them; '' or nil adds none.
local function add_end_fields(fields, end_fields)
  if not end_fields or end_fields == '' then return fields end
  for _, value in ipairs(cjson.decode(end_fields)) do table.insert(fields, value) end
  return fields
end

-- Seconds since 1970 of a date as the models store it ('YYYY-MM-DD HH:MM:SS[.ffffff]', UTC).
local function epoch_of(date)
  local y, m, d, hh, mm, ss = string.match(date or '', '^(%d+)-(%d+)-(%d+)[ T](%d+):(%d+):([%d.]+)')
  if not y then return nil end
  y, m = tonumber(y), tonumber(m)
  if m <= 2 then y = y - 1 end  -- days from the civil calendar (the year starting in March)
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + tonumber(d) - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

-- The seconds a run took (from its start and end dates) and its duration bucket; nil if unknown.
local function duration_bucket(start_str, end_str)
  local started, ended = epoch_of(start_str), epoch_of(end_str)
  if not started or not ended or ended < started then return nil, nil end
  local seconds = ended - started
  for i, bound in ipairs(DURATION_BUCKETS) do
    if seconds <= bound then return seconds, i end
  end
  return seconds, #DURATION_BUCKETS + 1
end

-- Count a run's duration (from its start and end dates) in its queue's metrics.
local function count_duration(queue, start_str, end_str)
  local seconds, bucket = duration_bucket(start_str, end_str)
  if not bucket then return end
  local key = key_metrics(queue)
  redis.call('HINCRBY', key, 'd:' .. bucket, 1)
  redis.call('HINCRBYFLOAT', key, 'duration_sum', seconds)
end

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
local function reindex(model, pk, field, old, new)
  if old == new then return end
  if old then redis.call('SREM', key_index(model, field, old), pk) end
  if new then redis.call('SADD', key_index(model, field, new), pk) end
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
  if #found == 0 then return nil end
  table.sort(found, function(a, b) return tonumber(a) < tonumber(b) end)
  return found[1]
end

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

-- A queue's name as key_queue makes it (what a job's queue_key holds), from one of its lists.
local function queue_of_list(list_key)
  return string.match(list_key, '^(.+):[^:]+$')
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

-- Record which limpyd model a Job model repr (the start of its idents) is.
local function register_model(model_repr, job_model)
  redis.call('HSET', key_job_models(), model_repr, job_model)
end

-- Start an attempt of a WAITING job: RUNNING, `start`, `tries` + 1, and its attempt token (the
-- `end` of a previous attempt goes: the job's duration is this attempt's).
local function start_attempt(job_model, pk, worker, now_str, tries, batch)
  tries = (tonumber(tries) or 0) + 1
  local attempt = worker .. ':' .. tries
  local key = key_hash(job_model, pk)
  redis.call('HSET', key, 'status', RUNNING, 'start', now_str, 'attempt', attempt, 'tries', tries)
  if tries > 1 then redis.call('HDEL', key, 'end') end
  if batch then  -- the status index moves of a batch are written at once (see take_batch)
    batch.started[job_model] = batch.started[job_model] or {}
    table.insert(batch.started[job_model], pk)
  else
    reindex(job_model, pk, 'status', WAITING, RUNNING)
  end
  return attempt, tries
end

-- The limpyd name of the Job model whose repr starts an ident (from the models registry), and
-- the job's pk; nil, nil for an ident not of the form repr:pk.
local function job_model_of(ident)
  local model_repr, pk = string.match(ident, '^(.+):([^:]+)$')
  if not model_repr then return nil, nil end
  return redis.call('HGET', key_job_models(), model_repr), pk
end

-- A table of the field/value pairs HGETALL replies.
local function hash_table(pairs_list)
  local found = {}
  for i = 1, #pairs_list, 2 do found[pairs_list[i]] = pairs_list[i + 1] end
  return found
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

-- Take the first job of the first non-empty waiting list (see take.lua for the result).
-- summary (default true): false leaves the counts and next_due out (0, 0, ''), for all takes of
-- a batch but its last; batch (optional): where take_batch gathers the writes its takes share.
local function take_next(waiting_keys, worker, now_str, now_score, want_counts, delayed_keys, pass_on, summary,
                         batch)
  local running = key_running(worker)
  local function counts(empty)
    if summary == false then return 0, 0, '' end
    local waiting, delayed, sizes = 0, 0, nil
    if want_counts then
      if not empty then
        for _, key in ipairs(waiting_keys) do waiting = waiting + redis.call('LLEN', key) end
      end
      sizes = {}
      for i, key in ipairs(delayed_keys) do
        sizes[i] = redis.call('ZCARD', key)
        delayed = delayed + sizes[i]
      end
    end
    return waiting, delayed, next_due(delayed_keys, sizes)
  end
  for _, key in ipairs(waiting_keys) do
    local ident = redis.call('LPOP', key)
    if ident then
      if batch then table.insert(batch.running, ident) else redis.call('ZADD', running, now_score, ident) end
      local outcome, status, identifier, attempt, timeout, snapshot = TAKE_RUN, '', '', '', '', {}
      local job_model, pk = job_model_of(ident)
      if not job_model then
        outcome, job_model = TAKE_UNKNOWN, ''
      else
        local fields = hash_table(redis.call('HGETALL', key_hash(job_model, pk)))
        if not fields.status then  -- every queued job has a status: this one does not exist
          outcome = TAKE_MISSING
          if batch then table.remove(batch.running) else redis.call('ZREM', running, ident) end
        else
          status, identifier, timeout = fields.status, fields.identifier or '', fields.timeout or ''
          if status == WAITING then
            local tries
            attempt, tries = start_attempt(job_model, pk, worker, now_str, fields.tries, batch)
            record_event(job_model, pk, 'started', now_str, {worker = worker, attempt = tries})
            local queue = string.sub(key, 1, -9)  -- key: the queue's waiting list
            if batch then batch.counts[queue] = (batch.counts[queue] or 0) + 1 else count_event(queue, 'started') end
            fields.status, fields.start, fields.attempt, fields.tries, fields['end'] =
              RUNNING, now_str, attempt, tostring(tries), nil
            snapshot = {}
            for name, value in pairs(fields) do
              table.insert(snapshot, name)
              table.insert(snapshot, value)
            end
          else
            outcome = TAKE_SKIP
          end
        end
      end
      if pass_on and redis.call('LLEN', key) > 0 then wake_up_queue(queue_of_list(key)) end
      local waiting, delayed, due = counts()
      return {outcome, ident, key, status, waiting, delayed, identifier, attempt, timeout, job_model, due, snapshot}
    end
  end
  local waiting, delayed, due = counts(true)  -- every waiting list was empty
  return {TAKE_EMPTY, '', '', '', waiting, delayed, '', '', '', '', due, {}}
end

-- Record the end of a job's run (see finish.lua for the arguments and the result).
local function finish(job_model, pk, ident, status, list, end_str, keep_queued, worker, only_if, token, detail,
                      end_fields)
  local key = key_hash(job_model, pk)
  local running = key_running(worker)
  local current = redis.call('HMGET', key, 'status', 'attempt', 'queued', 'queue_key', 'start', 'end_notice')
  local previous = current[1]
  local refused = nil
  if not previous then
    refused = END_MISSING
  elseif token ~= '' and current[2] ~= token then
    refused = END_STALE
  end
  if refused then
    redis.call('ZREM', running, ident)
    return refused
  end
  if token ~= '' and status ~= '' and previous == status and only_if ~= '' and previous ~= only_if then
    -- this attempt's end is written already (this is a retry after a lost reply): same answer
    if keep_queued ~= '1' then redis.call('ZREM', running, ident) end
    return only_if
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
  add_end_fields(fields, end_fields)
  if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
  if list ~= '' then redis.call('RPUSH', list, ident) end
  local event = status == SUCCESS and 'succeeded' or status == ERROR and 'failed' or status == '' and 'skipped'
  if current[4] and (status == SUCCESS or status == ERROR) then
    count_event(current[4], event)
    if detail and string.sub(detail, 1, 11) == 'JobTimeout:' then count_event(current[4], 'timed_out') end
    count_duration(current[4], current[5], end_str)
  end
  if event then
    record_event(job_model, pk, event, end_str ~= '' and end_str or nil,
           {worker = worker, attempt = tonumber(string.match(token, ':(%d+)$')),
            error = detail ~= '' and detail or nil, status = status == '' and previous or nil})
  end
  if keep_queued ~= '1' then
    if current[3] then
      reindex(job_model, pk, 'queued', current[3], false)
      redis.call('HDEL', key, 'queued')
    end
    redis.call('ZREM', running, ident)
    if current[6] and status == SUCCESS then notice_end(job_model, pk) end
  end
  return previous
end

-- Whether an attempt token is one of this worker's ("<worker>:<tries>").
local function taken_by(token, worker)
  return token ~= false and string.sub(token, 1, #worker + 1) == worker .. ':'
end

-- Put back a job left in the running set of a worker that does not run it any more: dead (its
-- lost attempt counts; after max_tries attempts the job ends in ERROR), or alive but it lost the
-- reply of the take (`untake`: the attempt never started, it does not count). A RUNNING job
-- (or ERROR waiting for its requeue) goes to the front of its queue, WAITING, without attempt
-- token (a late end of the lost attempt is refused); DELAYED goes to its delayed set, due now;
-- CANCELED is unqueued; a job another worker's attempt runs now, or finished, is left alone.
-- The caller removes it from the running set. Returns LOST_REQUEUED, LOST_FAILED or nil.
local function give_back_lost(job_model, pk, ident, worker, now_str, now_score, max_tries, untake)
  local key = key_hash(job_model, pk)
  local fields = redis.call('HMGET', key, 'status', 'queued', 'tries', 'queue_key', 'attempt')
  local status, queued, tries, queue = fields[1], fields[2], tonumber(fields[3]) or 0, fields[4]
  if queued ~= '1' or not queue then return nil end
  if status == RUNNING and not taken_by(fields[5], worker) then return nil end
  if status == DELAYED then
    redis.call('ZADD', key_queue_list(queue, 'delayed'), now_score, ident)
  elseif status == CANCELED then
    del_field(job_model, pk, 'queued', true)
  elseif status == RUNNING or status == ERROR then
    if untake and status == RUNNING then
      tries = math.max(tries - 1, 0)
      redis.call('HSET', key, 'tries', tries)
    end
    redis.call('HDEL', key, 'attempt')
    local event = untake and 'untaken' or 'recovered'  -- a lost reply of its own take, or a dead worker
    if max_tries and tries >= max_tries then
      set_field(job_model, pk, 'status', ERROR, true)
      redis.call('HSET', key, 'end', now_str)
      del_field(job_model, pk, 'queued', true)
      redis.call('RPUSH', key_queue_list(queue, 'errors'), ident)
      record_event(job_model, pk, event, now_str, {worker = worker, tries = tries, outcome = 'failed'})
      return LOST_FAILED
    end
    set_field(job_model, pk, 'status', WAITING, true)
    redis.call('LPUSH', key_queue_list(queue, 'waiting'), ident)
    wake_up_queue(queue)
    record_event(job_model, pk, event, now_str, {worker = worker, tries = tries, outcome = 'requeued'})
    if untake then count_event(queue, 'started', -1) else count_event(queue, 'recovered') end
    return LOST_REQUEUED
  end
  return nil
end

-- add_job's rules for a job already queued: a higher priority raises it (and moves it to that
-- queue), prepend moves a waiting job to the front; nothing else changes.
-- Returns {pk, 0, queue_pk or '', queue_created (0/1)}
local function readd_existing(job_model, model_repr, pk, queue_model, queue_name, priority, now_score, prepend)
  local ident = model_repr .. ':' .. pk
  local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'priority', 'queue_key', 'delayed_until')
  local status, current, old_queue = fields[1], tonumber(fields[2]) or 0, fields[3]
  local higher = priority > current
  if status == WAITING and (higher or prepend == '1') then
    local new_priority = math.max(priority, current)
    if old_queue then redis.call('LREM', key_queue_list(old_queue, 'waiting'), 0, ident) end
    set_field(job_model, pk, 'priority', tostring(new_priority), true)
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
    set_field(job_model, pk, 'priority', tostring(priority), true)
    local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
    enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name,
                     fields[4] or '', score or '', now_score, '0', status, '1')
    return {pk, 0, queue_pk, queue_created}
  end
  return {pk, 0, '', 0}
end

-- Create a job and queue it (add_job for an identifier not queued). fields: more field/value
-- pairs of the new job; indexed: the names among them that have an EqualIndex. adopt (optional):
-- the pk of an instance made already, with its identifier and priority, to make the job of.
-- Returns pk, queue_pk, queue_created (0/1)
local function create_job(job_model, model_repr, queue_model, queue_name, priority, identifier, now_str,
                          now_score, delayed_str, delayed_score, prepend, fields, indexed, adopt)
  local pk, values = adopt, {'added', now_str}
  if not adopt then
    pk = new_instance(job_model)
    values = {'identifier', identifier, 'priority', tostring(priority), 'added', now_str}
    reindex(job_model, pk, 'identifier', false, identifier)
    reindex(job_model, pk, 'priority', false, tostring(priority))
  end
  for i = 1, #fields, 2 do
    table.insert(values, fields[i])
    table.insert(values, fields[i + 1])
    if indexed[fields[i]] then reindex(job_model, pk, fields[i], false, fields[i + 1]) end
  end
  local queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
  enqueue_or_delay(job_model, pk, model_repr .. ':' .. pk, queue_model, queue_pk, queue_name,
                   delayed_str, delayed_score, now_score, prepend, false, false, values)
  record_event(job_model, pk, 'added', now_str, {queue = queue_name, priority = priority,
                                           delayed_until = delayed_str ~= '' and delayed_str or nil})
  return pk, queue_pk, queue_created
end

-- The queued runs of a recurring job id (jobs of job_model with that identifier and queued=1),
-- as {pk, status, queue_key} tables.
local function schedule_runs(job_model, job_id)
  local runs = {}
  for _, pk in ipairs(redis.call('SINTER', key_index(job_model, 'identifier', job_id),
                                 key_index(job_model, 'queued', '1'))) do
    local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'queue_key')
    table.insert(runs, {pk = pk, status = fields[1], queue_key = fields[2]})
  end
  return runs
end

-- Cancel a run that has not started (WAITING or DELAYED): out of its queue, CANCELED, unqueued.
local function cancel_run(job_model, model_repr, run)
  local ident = model_repr .. ':' .. run.pk
  if run.queue_key then
    redis.call('LREM', key_queue_list(run.queue_key, 'waiting'), 0, ident)
    redis.call('ZREM', key_queue_list(run.queue_key, 'delayed'), ident)
  end
  set_field(job_model, run.pk, 'status', CANCELED, true)
  del_field(job_model, run.pk, 'queued', true)
  record_event(job_model, run.pk, 'canceled', nil, {by = 'schedule'})
end


-- Whether a worker holds a job: its ident is in the running set of the worker that its attempt
-- token ("<worker>:<tries>", or false) names. That worker's end of the job unqueues it.
local function held_by_worker(ident, token)
  local worker = token and string.match(token, '^(.+):[^:]+$')
  if not worker then return false end
  return redis.call('ZSCORE', key_running(worker), ident) ~= false
end

-- Cancel a job no worker holds: CANCELED and unqueued at once (adding its identifier again makes
-- a new job); the caller takes its ident out of the lists it is in.
local function cancel_unheld(job_model, pk)
  set_field(job_model, pk, 'status', CANCELED, true)
  del_field(job_model, pk, 'queued', true)
end

-- Put a failed job (ERROR, and no longer queued: no worker is requeueing it) back in `queue` (a
-- queue's name as key_queue makes it), WAITING, at the front if prepend is '1', with `tries` 0 so
-- that the retries of the worker apply again; its attempt token and `end` go. Returns true, or
-- false (nothing written) when the job is not such a failed job.
local function requeue_failed_job(job_model, pk, ident, queue, now_score, prepend)
  local key = key_hash(job_model, pk)
  local fields = redis.call('HMGET', key, 'status', 'queued')
  if fields[1] ~= ERROR or fields[2] then return false end
  local queue_model, queue_pk = queue_parts(queue)
  redis.call('HDEL', key, 'attempt', 'end')
  enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name_of(queue), '', '', now_score,
                   prepend, ERROR, false, {'tries', '0'})
  return true
end

-- Take up to count jobs (take_next, count times, until the lists are empty): the replies of the
-- takes, one after the other (12 values each); the last one holds the counts and next_due.
local function take_batch(waiting_keys, worker, now_str, now_score, want_counts, delayed_keys, pass_on, count)
  local replies, batch = {}, {running = {}, started = {}, counts = {}}
  for i = 1, count do
    local last = i == count
    local reply = take_next(waiting_keys, worker, now_str, now_score, want_counts and last, delayed_keys,
                            pass_on and last, last, batch)
    if reply[1] == TAKE_EMPTY and not last then  -- the lists are empty: the summary, left out above
      reply = take_next(waiting_keys, worker, now_str, now_score, want_counts, delayed_keys, false, true, batch)
    end
    for _, value in ipairs(reply) do table.insert(replies, value) end
    if reply[1] == TAKE_EMPTY then break end
  end
  -- the writes the takes share, at once: the running set, the status index moves, the counts
  local members = {}
  for _, ident in ipairs(batch.running) do
    table.insert(members, now_score)
    table.insert(members, ident)
  end
  if #members > 0 then redis.call('ZADD', key_running(worker), unpack(members)) end
  for job_model, pks in pairs(batch.started) do
    redis.call('SREM', key_index(job_model, 'status', WAITING), unpack(pks))
    redis.call('SADD', key_index(job_model, 'status', RUNNING), unpack(pks))
  end
  for queue, n in pairs(batch.counts) do count_event(queue, 'started', n) end
  return replies
end



-- Record the successful ends of several jobs of a worker at once: each as finish() records a
-- success (SUCCESS only if still RUNNING under its token; a retry after a lost reply answers as
-- written), with the writes they share made once for all: the moves in the status and queued
-- indexes, the release from the running set, the pushes to the success lists, the metrics.
-- ends: tables of job_model, pk, ident, list, end_str, token, end_fields; returns finish()'s answer
-- for each.
local function finish_successes(worker, ends)
  local answers, released, models, pushes, counts = {}, {}, {}, {}, {}
  for i, e in ipairs(ends) do
    local key = key_hash(e.job_model, e.pk)
    local current = redis.call('HMGET', key, 'status', 'attempt', 'queued', 'queue_key', 'start', 'end_notice')
    if not current[1] or (e.token ~= '' and current[2] ~= e.token) then
      answers[i] = current[1] and END_STALE or END_MISSING
      table.insert(released, e.ident)
    elseif current[1] == SUCCESS then  -- written already (a retry after a lost reply)
      answers[i] = RUNNING
      table.insert(released, e.ident)
    elseif current[1] ~= RUNNING then  -- changed while it ran: the worker decides
      answers[i] = current[1]
    else
      answers[i] = RUNNING
      redis.call('HSET', key, unpack(add_end_fields({'status', SUCCESS, 'end', e.end_str}, e.end_fields)))
      if current[6] then notice_end(e.job_model, e.pk) end
      local model = models[e.job_model] or {pks = {}, queued = {}}
      models[e.job_model] = model
      table.insert(model.pks, e.pk)
      if current[3] then
        redis.call('HDEL', key, 'queued')
        table.insert(model.queued, e.pk)
      end
      record_event(e.job_model, e.pk, 'succeeded', e.end_str,
                   {worker = worker, attempt = tonumber(string.match(e.token, ':(%d+)$'))})
      table.insert(released, e.ident)
      if e.list ~= '' then
        pushes[e.list] = pushes[e.list] or {}
        table.insert(pushes[e.list], e.ident)
      end
      if current[4] then
        local count = counts[current[4]] or {n = 0, sum = 0, buckets = {}}
        counts[current[4]] = count
        count.n = count.n + 1
        local seconds, bucket = duration_bucket(current[5], e.end_str)
        if bucket then
          count.sum = count.sum + seconds
          count.buckets[bucket] = (count.buckets[bucket] or 0) + 1
        end
      end
    end
  end
  for job_model, model in pairs(models) do
    redis.call('SREM', key_index(job_model, 'status', RUNNING), unpack(model.pks))
    redis.call('SADD', key_index(job_model, 'status', SUCCESS), unpack(model.pks))
    if #model.queued > 0 then redis.call('SREM', key_index(job_model, 'queued', '1'), unpack(model.queued)) end
  end
  for list, idents in pairs(pushes) do redis.call('RPUSH', list, unpack(idents)) end
  if #released > 0 then redis.call('ZREM', key_running(worker), unpack(released)) end
  for queue, count in pairs(counts) do
    local key = key_metrics(queue)
    redis.call('HINCRBY', key, 'succeeded', count.n)
    for bucket, n in pairs(count.buckets) do redis.call('HINCRBY', key, 'd:' .. bucket, n) end
    if count.sum > 0 then redis.call('HINCRBYFLOAT', key, 'duration_sum', count.sum) end
  end
  return answers
end
