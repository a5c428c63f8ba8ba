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

-- Count an event of a queue (given by its name as key_queue makes it) in its metrics (by 1, or
-- by `by`).
local function count_event(queue, field, by)
  redis.call('HINCRBY', key_metrics(queue), field, by or 1)
end

-- Count `by` successes in the minute of `end_str` ('YYYY-MM-DD HH:MM...') in the throughput of
-- its hour, a hash kept two hours.
local function count_success_minute(end_str, by)
  local hour, minute = string.match(end_str or '', '^(%d+-%d+-%d+ %d+):(%d+)')
  if not hour then return end
  local key = key_throughput(hour)
  redis.call('HINCRBY', key, minute, by or 1)
  redis.call('EXPIRE', key, 7200)
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
