-- Cancel a job, atomically: a job that waits leaves its queue at once, one a worker runs is marked.
-- ARGV: job_model, pk, ident, now_str
-- RETURNS: outcome, previous
-- RETRY: safe, a job canceled already is found CANCELED and left so (outcome 'already')
-- outcome: 'canceled' (WAITING or DELAYED, or ERROR while its worker was about to requeue it: out
-- of its lists, CANCELED and unqueued now, so adding its identifier again makes a new job; the
-- requeue of that worker is then refused, its attempt token gone), 'marked' (a worker holds it:
-- CANCELED now; that worker's end finds it CANCELED, records a skip and unqueues it), 'already'
-- (it was CANCELED: unqueued now unless a worker holds it), 'finished' (SUCCESS, or ERROR for good:
-- nothing written), 'missing' (no such job). previous: the status the job had ('' if missing).
-- A job canceled now gets a 'canceled' event in its history (now_str: when).
local key = key_hash(job_model, pk)
local fields = redis.call('HMGET', key, 'status', 'queued', 'queue_key', 'attempt')
local status, queued, queue, token = fields[1], fields[2], fields[3], fields[4]
if not status then return {CANCEL_MISSING, ''} end
if status == SUCCESS or (status == ERROR and not queued) then return {CANCEL_FINISHED, status} end
local held = queued and held_by_worker(ident, token)
if status ~= CANCELED then tell_attempt(job_model, pk) end  -- its canceled event follows
local outcome = CANCEL_CANCELED
if status == CANCELED then
  outcome = CANCEL_ALREADY
elseif status == ERROR then
  redis.call('HDEL', key, 'attempt')  -- the worker's requeue, checked by its token, is refused
  held = false
elseif held then
  outcome = CANCEL_MARKED
end
if queue and status ~= ERROR then
  redis.call('LREM', key_queue_list(queue, 'waiting'), 0, ident)
  redis.call('ZREM', key_queue_list(queue, 'delayed'), ident)
end
if held then
  set_field(job_model, pk, 'status', CANCELED, true)
else
  cancel_unheld(job_model, pk)
end
if status ~= CANCELED then
  record_event(job_model, pk, 'canceled', now_str, {by = 'operator', status = status, running = held or nil})
end
return {outcome, status}
