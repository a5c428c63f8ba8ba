-- Record the end of a job's run, atomically.
-- ARGV: job_model, pk, ident, status, list_key, end_str, keep_queued, worker, only_if, token, end_fields, detail
-- RETURNS: previous
-- RETRY: safe, the attempt's own end, written already, is recognised by its token
-- status: the new status ('' to keep it); list_key: the list to push the ident to ('' for none);
-- end_str: the `end` date ('' to leave it); keep_queued: 1 when the job is about to be
-- requeued (it keeps its `queued` flag and stays in the worker's running set until then, so that
-- it is never in no place), 0 to unqueue it and release it from the running set. Nothing is
-- written unless the job's status is only_if ('' for any) and its attempt token is token ('' for
-- no check). previous: the status the job had, END_MISSING if it is gone, or END_STALE when its
-- attempt is not token (it was recovered and taken again: this attempt is over); in these two
-- cases only the release from the running set is written. detail: the error of a failure, for
-- the event the job's history gets ('' for none). end_fields: a JSON array of more field/value
-- pairs the job writes with its end ('' for none: a task's result), in the same HSET. The
-- success of a job whose hash has `end_notice` pushes a token to its `ended` list (notice_end).
return finish(job_model, pk, ident, status, list_key, end_str, keep_queued, worker, only_if, token, detail,
              end_fields)
