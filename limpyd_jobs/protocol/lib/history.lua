-- A job's history and its queue's metrics, written by the script that makes the change they tell.
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

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

-- Write the events a job's current attempt has had that no script wrote (history.py makes them
-- from its fields: `started` from `start` and the attempt token, `succeeded` from `end` for a
-- SUCCESS), unless written already (`told` names the attempt), and name it there. A
-- script calls it before it records another event of the job or changes those fields, so the
-- history keeps the order of the steps; a take and a success, the usual path, call it not.
local function tell_attempt(job_model, pk)
  local key = key_hash(job_model, pk)
  local fields = redis.call('HMGET', key, 'status', 'start', 'attempt', 'end', 'told')
  local token = fields[3]
  if not token or not fields[2] or fields[5] == token then return end
  local worker, tries = string.match(token, '^(.+):(%d+)$')
  if not worker then return end
  tries = tonumber(tries)
  local entries = {cjson.encode({event = 'started', at = fields[2], worker = worker, attempt = tries})}
  if fields[1] == SUCCESS and fields[4] then
    entries[2] = cjson.encode({event = 'succeeded', at = fields[4], worker = worker, attempt = tries})
  end
  local history = key_field(job_model, pk, 'history')
  if redis.call('RPUSH', history, unpack(entries)) > HISTORY_MAX then
    redis.call('LTRIM', history, -HISTORY_MAX, -1)
  end
  redis.call('HSET', key, 'told', token)
end

-- Count an event of a queue (given by its name as key_queue makes it) in its metrics (by 1, or
-- by `by`).
local function count_event(queue, field, by)
  redis.call('HINCRBY', key_metrics(queue), field, by or 1)
end

-- Count `by` successes in the minute of `end_str` ('YYYY-MM-DD HH:MM...') in the throughput of
-- its hour, a hash kept two hours: its TTL is set by the first count of each minute (at least
-- 7140 s after the last count), not by every end.
local function count_success_minute(end_str, by)
  local hour, minute = string.match(end_str or '', '^(%d+-%d+-%d+ %d+):(%d+)')
  if not hour then return end
  local key = key_throughput(hour)
  by = by or 1
  if redis.call('HINCRBY', key, minute, by) == by then redis.call('EXPIRE', key, 7200) end
end

-- Days since 1970 of a civil date (the year starting in March), as numbers.
local function days_of(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Seconds since 1970 of a date as the models store it ('YYYY-MM-DD HH:MM:SS[.ffffff]', UTC).
local function epoch_of(date)
  local y, m, d, hh, mm, ss = string.match(date or '', '^(%d+)-(%d+)-(%d+)[ T](%d+):(%d+):([%d.]+)')
  if not y then return nil end
  local days = days_of(tonumber(y), tonumber(m), tonumber(d))
  return days * 86400 + tonumber(hh) * 3600 + tonumber(mm) * 60 + tonumber(ss)
end

-- Minutes since 1970 of a stored date (its seconds left out), or nil.
local function epoch_minute_of(date)
  local y, m, d, hh, mm = string.match(date, '^(%d+)-(%d+)-(%d+)[ T](%d+):(%d+):')
  if not y then return nil end
  return days_of(tonumber(y), tonumber(m), tonumber(d)) * 1440 + tonumber(hh) * 60 + tonumber(mm)
end

-- The microseconds from a stored date's minute to it (its 'SS[.ffffff]' from the 18th
-- character), an integer read without float parsing; nil if it is not a stored date.
local function micros_in_minute(date)
  if string.byte(date, 17) ~= 58 then return nil end  -- 58: ':'
  local seconds, fraction = string.match(date, '^(%d%d)%.?(%d*)', 18)
  if not seconds then return nil end
  return tonumber(seconds) * 1000000 + tonumber(string.sub(fraction .. '000000', 1, 6))
end

-- The microseconds (an integer) a run took, from its start and end dates, and its duration
-- bucket; nil if unknown. Within one minute (the usual run) only the seconds are read.
local function duration_bucket(start_str, end_str)
  if not start_str or not end_str then return nil, nil end
  local started, ended = micros_in_minute(start_str), micros_in_minute(end_str)
  if not started or not ended then return nil, nil end
  local micros = ended - started
  if string.sub(start_str, 1, 16) ~= string.sub(end_str, 1, 16) then
    local start_minute, end_minute = epoch_minute_of(start_str), epoch_minute_of(end_str)
    if not start_minute or not end_minute then return nil, nil end
    micros = micros + (end_minute - start_minute) * 60000000
  end
  if micros < 0 then return nil, nil end
  for i, bound in ipairs(DURATION_BUCKETS) do
    if micros <= bound * 1000000 then return micros, i end
  end
  return micros, #DURATION_BUCKETS + 1
end

-- Count a run's duration (from its start and end dates) in its queue's metrics: its bucket
-- (`s:<bucket>` for a success: that count is its `succeeded` count too, `d:<bucket>` otherwise),
-- and `duration_us`, the sum of the durations in microseconds (an integer: HINCRBY). Returns
-- whether it was counted (not when a date is missing).
local function count_duration(queue, start_str, end_str, success)
  local micros, bucket = duration_bucket(start_str, end_str)
  if not bucket then return false end
  local key = key_metrics(queue)
  redis.call('HINCRBY', key, (success and 's:' or 'd:') .. bucket, 1)
  redis.call('HINCRBY', key, 'duration_us', micros)
  return true
end
