-- Put an existing job in a queue's waiting list, or its delayed set, atomically.
-- ARGV: job_model, pk, ident, queue_model, queue_pk, queue_name, priority, delayed_str, delayed_score, now_score, prepend, set_priority, release_from, token
-- RETURNS: queue_pk, queue_created, enqueued
-- RETRY: safe, the job is taken out of its lists before it is put back
-- queue_pk: '' to find (or create) the queue by queue_name and priority; delayed_str and
-- delayed_score: '' when not delayed; prepend and set_priority (write priority in the job): 0/1;
-- release_from: the worker whose running set the job leaves in the same step ('' for none);
-- token: only enqueue if the job's attempt token is this one ('' for no check: a stale attempt
-- then writes nothing but its release, and enqueued is 0). A job of this attempt CANCELED
-- meanwhile (an operator canceled it while its worker held it) is not put back: it is unqueued
-- and released, and enqueued is 0.
if token ~= '' then
  local held = redis.call('HMGET', key_hash(job_model, pk), 'attempt', 'status')
  if held[1] ~= token or held[2] == CANCELED then
    if held[1] == token then
      tell_attempt(job_model, pk)
      del_field(job_model, pk, 'queued', true)
      record_event(job_model, pk, 'canceled', tonumber(now_score),
                   {worker = release_from ~= '' and release_from or nil})
    end
    if release_from ~= '' then redis.call('ZREM', key_running(release_from), ident) end
    return {'', 0, 0}
  end
end
local queue_created = 0
register_model(string.match(ident, '^(.+):[^:]+$'), job_model)
if queue_pk == '' then
  queue_pk, queue_created = get_or_create_queue(queue_model, queue_name, priority)
else
  queue_name = redis.call('HGET', key_hash(queue_model, queue_pk), 'name') or queue_name
end
if set_priority == '1' then redis.call('HSET', key_hash(job_model, pk), 'priority', priority) end  -- scanned
-- only a WAITING or DELAYED job can be in a list of its previous queue
tell_attempt(job_model, pk)  -- its requeued event follows
local current = redis.call('HMGET', key_hash(job_model, pk), 'queue_key', 'status', 'queued')
local old_queue = current[1]
if old_queue and (current[2] == WAITING or current[2] == DELAYED) then
  redis.call('LREM', key_queue_list(old_queue, 'waiting'), 0, ident)
  redis.call('ZREM', key_queue_list(old_queue, 'delayed'), ident)
end
enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name, delayed_str, delayed_score, now_score,
                 prepend, current[2], current[3])
record_event(job_model, pk, 'requeued', tonumber(now_score), {
  queue = queue_name, priority = set_priority == '1' and tonumber(priority) or nil,
  delayed_until = delayed_str ~= '' and delayed_str or nil,
  worker = release_from ~= '' and release_from or nil, front = prepend == '1' or nil})
if current[2] == ERROR then count_event(key_queue(queue_model, queue_pk), 'requeued') end  -- a retry
if release_from ~= '' then redis.call('ZREM', key_running(release_from), ident) end
return {queue_pk, queue_created, 1}
