-- Enqueue the recurring runs that are due, atomically: each due job id leaves the timeline and
-- is added as a job in the same step, so dispatchers on several hosts never enqueue one
-- occurrence twice, and a dispatcher killed midway loses none.
-- ARGV: timeline_model, timeline_pk, schedule_model, job_model, model_repr, queue_model, now_str, now_score, limit, now_int
-- RETURNS: [job_id]...
-- RETRY: safe, runs dispatched already are not in the timeline any more
-- timeline: the `runs` due set of the timeline instance; limit: at most this many runs; now_int:
-- the time written in the schedules' status (EVENT_ENQ:now_int). A job id whose schedule was
-- unset meanwhile is dropped. A run already queued gets add_job's rules (it is not doubled).
register_model(model_repr, job_model)
local result = {}
for _, id in ipairs(due_take(key_field(timeline_model, timeline_pk, 'runs'), now_score, limit)) do
  local schedule = redis.call('HMGET', key_hash(schedule_model, id), 'queue_name', 'priority', 'version')
  if schedule[1] then
    local priority = tonumber(schedule[2]) or 0
    local existing = find_by_index(job_model, 'identifier', id, 'queued', '1')
    if existing then
      readd_existing(job_model, model_repr, existing, queue_model, schedule[1], priority, now_score, '0')
    else
      create_job(job_model, model_repr, queue_model, schedule[1], priority, id, now_str, now_score, '', '', '0',
                 {'schedule_version', schedule[3] or '0'}, {})
    end
    redis.call('HSET', key_hash(schedule_model, id), 'status', EVENT_ENQ .. ':' .. now_int)
    table.insert(result, id)
  end
end
return result
