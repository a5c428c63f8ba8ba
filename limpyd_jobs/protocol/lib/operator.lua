-- What operators and schedules do to jobs: cancel, requeue a failed job, a schedule's runs.
-- The loader links into a script the blocks it uses (and theirs). Keep one blank line between
-- blocks and none inside them; each block is a comment and one top-level local or function.

-- Whether a worker holds a job: its ident is in the running set of the worker that its attempt
-- token ("<worker>:<tries>", or false) names. That worker's end of the job unqueues it.
local function held_by_worker(ident, token)
  local worker = token and string.match(token, '^(.+):[^:]+$')
  if not worker then return false end
  return redis.call('ZSCORE', key_running(worker), ident) ~= false
end

-- Cancel a job no worker holds: CANCELED and unqueued at once (adding its identifier again makes
-- a new job); the caller takes its ident out of the lists it is in.
local function cancel_unheld(job_model, pk)
  set_field(job_model, pk, 'status', CANCELED, true)
  del_field(job_model, pk, 'queued', true)
end

-- Put a failed job (ERROR, and no longer queued: no worker is requeueing it) back in `queue` (a
-- queue's name as key_queue makes it), WAITING, at the front if prepend is '1', with `tries` 0 so
-- that the retries of the worker apply again; its attempt token and `end` go. Returns true, or
-- false (nothing written) when the job is not such a failed job.
local function requeue_failed_job(job_model, pk, ident, queue, now_score, prepend)
  local key = key_hash(job_model, pk)
  local fields = redis.call('HMGET', key, 'status', 'queued')
  if fields[1] ~= ERROR or fields[2] then return false end
  local queue_model, queue_pk = queue_parts(queue)
  tell_attempt(job_model, pk)  -- before its token goes (told at its failure, unless set by hand)
  redis.call('HDEL', key, 'attempt', 'end')
  enqueue_or_delay(job_model, pk, ident, queue_model, queue_pk, queue_name_of(queue), '', '', now_score,
                   prepend, ERROR, false, {'tries', '0'})
  return true
end

-- The queued runs of a recurring job id (jobs of job_model with that identifier and queued=1),
-- as {pk, status, queue_key} tables.
local function schedule_runs(job_model, job_id)
  local runs = {}
  for _, pk in ipairs(redis.call('SINTER', key_index(job_model, 'identifier', job_id),
                                 key_index(job_model, 'queued', '1'))) do
    local fields = redis.call('HMGET', key_hash(job_model, pk), 'status', 'queue_key')
    table.insert(runs, {pk = pk, status = fields[1], queue_key = fields[2]})
  end
  return runs
end

-- Cancel a run that has not started (WAITING or DELAYED): out of its queue, CANCELED, unqueued.
local function cancel_run(job_model, model_repr, run)
  local ident = model_repr .. ':' .. run.pk
  if run.queue_key then
    redis.call('LREM', key_queue_list(run.queue_key, 'waiting'), 0, ident)
    redis.call('ZREM', key_queue_list(run.queue_key, 'delayed'), ident)
  end
  tell_attempt(job_model, run.pk)
  set_field(job_model, run.pk, 'status', CANCELED, true)
  del_field(job_model, run.pk, 'queued', true)
  record_event(job_model, run.pk, 'canceled', nil, {by = 'schedule'})
end
