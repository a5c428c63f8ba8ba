-- The take: a WAITING job becomes an attempt of a worker, one job or a batch.
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

-- Start an attempt of a WAITING job: RUNNING, `start`, `tries` + 1, and its attempt token (the
-- `end` of a previous attempt goes: the job's duration is this attempt's; so does `told`, if
-- the job has one, so the new attempt's events are told by its fields even when its token is
-- an earlier one's again: an untake or a requeue of a failed job lowers `tries`). key
-- (optional): the job's hash key, when the caller made it already.
local function start_attempt(job_model, pk, worker, now_str, tries, batch, key, told)
  tries = (tonumber(tries) or 0) + 1
  local tries_str = tostring(tries)  -- formatted once, for the token and the field
  local attempt = worker .. ':' .. tries_str
  key = key or key_hash(job_model, pk)
  redis.call('HSET', key, 'status', RUNNING, 'start', now_str, 'attempt', attempt, 'tries', tries_str)
  if tries > 1 or told then redis.call('HDEL', key, 'end', 'told') end
  if batch then  -- the status index moves of a batch are written at once (see take_batch)
    local started = batch.started[job_model]
    if not started then
      started = {}
      batch.started[job_model] = started
    end
    started[#started + 1] = pk
  else
    reindex(job_model, pk, 'status', WAITING, RUNNING)
  end
  return attempt, tries
end

-- The counts and next_due of a take's reply (see take_next): 0, 0, '' unless summary; the
-- waiting lists are not read when empty (all were found so).
local function take_summary(waiting_keys, delayed_keys, want_counts, summary, empty)
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

-- Take the first job of the first non-empty waiting list (see take.lua for the result).
-- summary (default true): false leaves the counts and next_due out (0, 0, ''), for all takes of
-- a batch but its last; batch (optional): where take_batch gathers the writes its takes share;
-- known (optional): model names by repr known already (see job_model_of); first (optional): a
-- value put before the reply's (finish_and_take's answer for its end). pass_on: false, or the
-- function waking a worker of a queue (wake_up_queue), called if the list still holds jobs: a
-- script that never passes on does not link it.
local function take_next(waiting_keys, worker, now_str, now_score, want_counts, delayed_keys, pass_on, summary,
                         batch, known, first)
  for _, key in ipairs(waiting_keys) do
    local ident = redis.call('LPOP', key)
    if ident then
      local running = batch and batch.running
      if running then running[#running + 1] = ident else redis.call('ZADD', key_running(worker), now_score, ident) end
      local outcome, status, identifier, attempt, timeout, snapshot = TAKE_RUN, '', '', '', '', {}
      local job_model, pk = job_model_of(ident, known)
      if not job_model then
        outcome, job_model = TAKE_UNKNOWN, ''
      else
        local hash = key_hash(job_model, pk)
        local raw, found, tries, told = redis.pcall('HGETALL', hash), nil, nil, false
        if raw.err then  -- not a hash (malformed data): set aside, never run, never lost
          outcome, raw = TAKE_MALFORMED, {}
          if running then running[#running] = nil else redis.call('ZREM', key_running(worker), ident) end
          redis.call('RPUSH', key_queue_list(string.sub(key, 1, -9), 'malformed'), ident)  -- no reader reads it
        end
        for i = 1, #raw, 2 do  -- the fields the take needs, read from the reply as it is
          local name = raw[i]
          if name == 'status' then found = raw[i + 1]
          elseif name == 'identifier' then identifier = raw[i + 1]
          elseif name == 'timeout' then timeout = raw[i + 1]
          elseif name == 'tries' then tries = raw[i + 1]
          elseif name == 'told' then told = true end
        end
        if outcome == TAKE_MALFORMED then  -- set aside above
        elseif not found then  -- every queued job has a status: this one does not exist
          outcome = TAKE_MISSING
          if running then running[#running] = nil else redis.call('ZREM', key_running(worker), ident) end
        else
          status = found
          if status == WAITING then
            attempt, tries = start_attempt(job_model, pk, worker, now_str, tries, batch, hash, told)  -- no
            -- `started` event: readers make it from the fields (see tell_attempt)
            local queue = string.sub(key, 1, -9)  -- key: the queue's waiting list
            if batch then batch.counts[queue] = (batch.counts[queue] or 0) + 1 else count_event(queue, 'started') end
            snapshot = raw  -- as read: the caller knows what the start wrote (see take.lua)
          else
            outcome = TAKE_SKIP
          end
        end
      end
      if pass_on and redis.call('LLEN', key) > 0 then pass_on(string.sub(key, 1, -9)) end
      local waiting, delayed, due = take_summary(waiting_keys, delayed_keys, want_counts, summary)
      if first then
        return {first, outcome, ident, key, status, waiting, delayed, identifier, attempt, timeout, job_model, due,
                snapshot}
      end
      return {outcome, ident, key, status, waiting, delayed, identifier, attempt, timeout, job_model, due, snapshot}
    end
  end
  local waiting, delayed, due = take_summary(waiting_keys, delayed_keys, want_counts, summary, true)
  if first then return {first, TAKE_EMPTY, '', '', '', waiting, delayed, '', '', '', '', due, {}} end
  return {TAKE_EMPTY, '', '', '', waiting, delayed, '', '', '', '', due, {}}
end

-- Take up to count jobs (take_next, count times, until the lists are empty): the replies of the
-- takes, one after the other (12 values each); the last one holds the counts and next_due.
-- known (optional): as take_next's.
local function take_batch(waiting_keys, worker, now_str, now_score, want_counts, delayed_keys, pass_on, count,
                          known)
  local replies, batch = {}, {running = {}, started = {}, counts = {}}
  for i = 1, count do
    local last = i == count
    local reply = take_next(waiting_keys, worker, now_str, now_score, want_counts and last, delayed_keys,
                            last and pass_on, last, batch, known)
    if reply[1] == TAKE_EMPTY and not last then  -- the lists are empty: the summary, left out above
      reply = take_next(waiting_keys, worker, now_str, now_score, want_counts, delayed_keys, false, true, batch,
                        known)
    end
    local at = #replies
    for j = 1, 12 do replies[at + j] = reply[j] end
    if reply[1] == TAKE_EMPTY then break end
  end
  -- the writes the takes share, at once: the running set, the status index moves, the counts
  local members = {}
  for j, ident in ipairs(batch.running) do
    members[2 * j - 1] = now_score
    members[2 * j] = ident
  end
  if #members > 0 then redis.call('ZADD', key_running(worker), unpack(members)) end
  for job_model, pks in pairs(batch.started) do
    redis.call('SREM', key_index(job_model, 'status', WAITING), unpack(pks))
    redis.call('SADD', key_index(job_model, 'status', RUNNING), unpack(pks))
  end
  for queue, n in pairs(batch.counts) do count_event(queue, 'started', n) end
  return replies
end
