-- Enqueue the scheduled runs that are due, atomically: each due job id leaves the timeline and
-- is added as a job in the same step, so dispatchers on several hosts never enqueue one
-- occurrence twice, and a dispatcher killed midway loses none.
-- ARGV[1] timeline key (sorted set: job id -> next run)   ARGV[2] schedule model name
-- ARGV[3] job model name   ARGV[4] job model repr   ARGV[5] queue model name
-- ARGV[6] now (stored string)   ARGV[7] now (score)   ARGV[8] at most this many   ARGV[9] now (int)
-- Returns the job ids enqueued.
local timeline, schedules, job_model, repr = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local queue_model, now_str, now_score, limit, now_int = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
register_model(repr, job_model)
local result = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', timeline, '-inf', now_score, 'LIMIT', 0, limit)) do
  redis.call('ZREM', timeline, id)
  local schedule = redis.call('HMGET', schedules .. ':' .. id .. ':hash', 'queue_name', 'priority', 'version')
  if schedule[1] then  -- unset meanwhile: nothing to run
    local priority = tonumber(schedule[2]) or 0
    local existing = find_queued(job_model, id)
    if existing then
      readd_existing(job_model, repr, existing, queue_model, schedule[1], priority, now_score, '0')
    else
      create_job(job_model, repr, queue_model, schedule[1], priority, id, now_str, now_score, '', '', '0',
                 {'schedule_version', schedule[3] or '0'}, {})
    end
    redis.call('HSET', schedules .. ':' .. id .. ':hash', 'status', 'ENQ:' .. now_int)
    table.insert(result, id)
  end
end
return result
