-- Put a failed job back in its queue with its tries reset, atomically (limpyd-jobs requeue JOB).
-- ARGV: job_model, pk, ident, now_score, prepend
-- RETURNS: previous, requeued, queue
-- RETRY: safe, a job requeued already is not in ERROR any more: nothing is written twice
-- A job in ERROR that no worker is requeueing (not queued) goes back to the queue it failed in
-- (its queue_key), WAITING, at the front if prepend is 1, with tries 0 so that the worker's retries
-- apply again (lib/operator.lua's requeue_failed_job). previous: the status the job had ('' if there is no
-- such job); requeued: 1 if it was put back, 0 if not (not in ERROR, queued, or without a queue);
-- queue: its queue_key. A job put back gets a 'requeued' event in its history, and counts as
-- requeued in its queue's metrics.
local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'queue_key')
local status, queue = fields[1] or '', fields[2] or ''
if queue == '' then return {status, 0, ''} end
local requeued = requeue_failed_job(job_model, pk, ident, queue, now_score, prepend)
if requeued then
  record_event(job_model, pk, 'requeued', tonumber(now_score), {
    queue = queue_name_of(queue), by = 'operator', tries = 0, front = prepend == '1' or nil})
  count_event(queue, 'requeued')
end
return {status, requeued and 1 or 0, queue}
