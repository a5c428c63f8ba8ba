-- The end of a run (one job or a batch of successes), and giving back a job its worker lost.
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

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

-- Record the end of a job's run (see finish.lua for the arguments and the result).
local function finish(job_model, pk, ident, status, list, end_str, keep_queued, worker, only_if, token, detail,
                      end_fields)
  local key = key_hash(job_model, pk)
  local running = key_running(worker)
  local current = redis.call('HMGET', key, 'status', 'attempt', 'queued', 'queue_key', 'start', 'end_notice',
                               'told')
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
  if status ~= SUCCESS then tell_attempt(job_model, pk) end  -- its own event follows
  if status ~= '' then reindex(job_model, pk, 'status', previous, status) end
  if status ~= '' and end_str ~= '' and (not end_fields or end_fields == '') then  -- the usual end: no table
    redis.call('HSET', key, 'status', status, 'end', end_str)
  else
    local fields = {}
    if status ~= '' then fields = {'status', status} end
    if end_str ~= '' then
      fields[#fields + 1] = 'end'
      fields[#fields + 1] = end_str
    end
    add_end_fields(fields, end_fields)
    if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
  end
  if list ~= '' then redis.call('RPUSH', list, ident) end
  local event = status == SUCCESS and 'succeeded' or status == ERROR and 'failed' or status == '' and 'skipped'
  if current[4] and (status == SUCCESS or status == ERROR) then
    -- a success counted in its duration bucket (s:<bucket>) is not counted in `succeeded` too
    if not count_duration(current[4], current[5], end_str, status == SUCCESS) or status == ERROR then
      count_event(current[4], event)
    end
    if detail and string.sub(detail, 1, 11) == 'JobTimeout:' then count_event(current[4], 'timed_out') end
    if status == SUCCESS then count_success_minute(end_str) end
  end
  -- a success is told by the fields (tell_attempt), unless its attempt was told already (a
  -- duplicate of the job skipped while it ran): then it writes its own event
  if event and (event ~= 'succeeded' or (current[7] and current[7] == current[2])) then
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

-- Record the successful ends of several jobs of a worker at once: each as finish() records a
-- success (SUCCESS only if still RUNNING under its token; a retry after a lost reply answers as
-- written), with the writes they share made once for all: the moves in the status and queued
-- indexes, the release from the running set, the pushes to the success lists, the metrics.
-- ends: tables of job_model, pk, ident, list, end_str, token, end_fields; returns finish()'s answer
-- for each.
local function finish_successes(worker, ends)
  local answers, released, models, pushes, counts, minutes = {}, {}, {}, {}, {}, {}
  for i, e in ipairs(ends) do
    local key = key_hash(e.job_model, e.pk)
    local current = redis.call('HMGET', key, 'status', 'attempt', 'queued', 'queue_key', 'start', 'end_notice',
                               'told')
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
      if not e.end_fields or e.end_fields == '' then
        redis.call('HSET', key, 'status', SUCCESS, 'end', e.end_str)
      else
        redis.call('HSET', key, unpack(add_end_fields({'status', SUCCESS, 'end', e.end_str}, e.end_fields)))
      end
      if current[6] then notice_end(e.job_model, e.pk) end
      if current[7] and current[7] == current[2] then  -- its attempt told already: as finish() does
        record_event(e.job_model, e.pk, 'succeeded', e.end_str,
                     {worker = worker, attempt = tonumber(string.match(e.token, ':(%d+)$'))})
      end
      local model = models[e.job_model] or {pks = {}, queued = {}}
      models[e.job_model] = model
      table.insert(model.pks, e.pk)
      if current[3] then
        redis.call('HDEL', key, 'queued')
        table.insert(model.queued, e.pk)
      end
      table.insert(released, e.ident)
      if e.list ~= '' then
        pushes[e.list] = pushes[e.list] or {}
        table.insert(pushes[e.list], e.ident)
      end
      if current[4] then
        local count = counts[current[4]] or {n = 0, sum = 0, buckets = {}}
        counts[current[4]] = count
        local minute = string.sub(e.end_str, 1, 16)
        minutes[minute] = (minutes[minute] or 0) + 1
        local micros, bucket = duration_bucket(current[5], e.end_str)
        if bucket then  -- counted in its bucket (s:<bucket>), not in `succeeded` (see count_duration)
          count.sum = count.sum + micros
          count.buckets[bucket] = (count.buckets[bucket] or 0) + 1
        else
          count.n = count.n + 1
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
    if count.n > 0 then redis.call('HINCRBY', key, 'succeeded', count.n) end
    for bucket, n in pairs(count.buckets) do redis.call('HINCRBY', key, 's:' .. bucket, n) end
    if count.sum > 0 then redis.call('HINCRBY', key, 'duration_us', count.sum) end
  end
  for minute, n in pairs(minutes) do count_success_minute(minute, n) end
  return answers
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
    tell_attempt(job_model, pk)  -- before its token goes
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
