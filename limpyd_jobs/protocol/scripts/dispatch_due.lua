-- Enqueue the recurring runs that are due, atomically: each due job id leaves the timeline and
-- is added as a job in the same step, so dispatchers on several hosts never enqueue one
-- occurrence twice, and a dispatcher killed midway loses none.
-- ARGV: timeline_model, timeline_pk, schedule_model, job_model, model_repr, queue_model, now_str, now_score, limit, now_int, default_timeout
-- RETURNS: [job_id]...
-- RETRY: safe, runs dispatched already are not in the timeline any more
-- timeline: the `runs` due set of the timeline instance; limit: at most this many runs; now_int:
-- the time written in the schedules' status (EVENT_ENQ:now_int); default_timeout: the `timeout`
-- of a run whose schedule sets none. A job id whose schedule was unset meanwhile is dropped. If a
-- run of the job id is queued already, the occurrence becomes that run when it has not started
-- (it takes the schedule's version), or waits for the end of the running one (in the schedule's
-- `deferred` field, as schedule_set.lua leaves it): never two runs, never a lost occurrence.
-- Only the job ids whose run entered a queue are returned (and marked ENQ).
register_model(model_repr, job_model)
local result = {}
for _, id in ipairs(due_take(key_field(timeline_model, timeline_pk, 'runs'), now_score, limit)) do
  local key = key_hash(schedule_model, id)
  local schedule = redis.call('HMGET', key, 'queue_name', 'priority', 'version', 'timeout')
  if schedule[1] then
    local priority = tonumber(schedule[2]) or 0
    local version, timeout = schedule[3] or '0', schedule[4]
    if not timeout or timeout == '' then timeout = default_timeout end
    local queued, running = nil, false
    for _, run in ipairs(schedule_runs(job_model, id)) do
      if run.status == RUNNING then running = true else queued = run end
    end
    if running then
      redis.call('HSET', key, 'deferred', now_score)
    else
      if queued then
        redis.call('HSET', key_hash(job_model, queued.pk), 'schedule_version', version, 'timeout', timeout)
      else
        create_job(job_model, model_repr, queue_model, schedule[1], priority, id, now_str, now_score, '', '',
                   '0', {'schedule_version', version, '0', 'timeout', timeout, '0'})
      end
      redis.call('HSET', key, 'status', EVENT_ENQ .. ':' .. now_int)
      table.insert(result, id)
    end
  end
end
return result
