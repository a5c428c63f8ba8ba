"""What happens to a job a worker took: running it, then recording its end.

``JobOutcomes`` is mixed into ``Worker``: its ``job_*`` hooks and ``*_message`` builders are
the documented extension points; each writes the job's state in one atomic script first, then
logs and calls the job's own ``on_*`` hook.
"""

from __future__ import annotations

import logging
import traceback as traceback_module
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis

from . import lua
from .constants import DEFAULT_DELAY, STATUSES
from .models import Job, Queue
from .utils import datetime_to_str, str_to_datetime, utcnow

#: Redis errors after which the worker waits and tries again (capped exponential backoff).
OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
BACKOFF_START, BACKOFF_MAX = 0.5, 30.0


class JobOutcomes:
    """The Worker's methods for one job (mixed into ``Worker``, which holds the state they use)."""

    def handle_job(self, job: Job, queue: Queue, timeout: float | None = None) -> None:
        """Run a job just taken and record how it ended."""
        if job.fetched_status != STATUSES.WAITING:
            self._guard(job, self.job_delayed if job.fetched_status == STATUSES.DELAYED else self.job_skipped,
                        job, queue)
            return
        self.set_status("running")
        self._guard(job, self.job_started, job, queue)
        self._running_job = True
        try:
            with self.executor.time_limit(timeout):
                result = self.callback(job, queue)
        except Exception as exc:
            self._running_job = False
            trace = traceback_module.format_exc() if self.save_tracebacks else None
            self._guard(job, self.job_error, job, queue, exc, trace)
        else:
            self._running_job = False
            self._end_success(job, queue, result)
        finally:
            self._running_job = False

    def _end_success(self, job: Job, queue: Queue, result: Any) -> None:
        """Mark the job SUCCESS unless it was canceled or delayed while running (atomically)."""
        if self._may_take_next():
            found = self._finish_and_take_next(job, queue)
        else:
            found = self.finish_job(job, queue, STATUSES.SUCCESS, queue.success.key, only_if=STATUSES.RUNNING)
        if found == STATUSES.RUNNING:
            self._guard(job, self.job_success, job, queue, result)
        else:
            self._changed_while_running(job, queue, found)

    def _changed_while_running(self, job: Job, queue: Queue, found: str) -> None:
        """The job was not RUNNING any more when it ended: skip, delay, or leave it as it is."""
        if found == STATUSES.CANCELED:
            self._guard(job, self.job_skipped, job, queue)
        elif found == STATUSES.DELAYED:
            self._guard(job, self.job_delayed, job, queue)
        elif found == "!stale":
            self.log(f"job {job.ident} was recovered and taken again meanwhile: this attempt's end "
                     "is not recorded", level="warning")
        else:
            self.log(f"job {job.ident} ended with status {found!r}, set while it ran: left as is",
                     level="warning")
            self.connection.zrem(self.running_key, job.ident)

    def _may_take_next(self) -> bool:
        """Whether to take the next job in the same round trip as this one's end."""
        return self.executor.mode == "inprocess" and bool(self.keys) and not self.must_stop()

    def _finish_and_take_next(self, job: Job, queue: Queue) -> str:
        """Record a success and take the next job in one round trip (the next is kept for
        ``wait_for_job``); on a Redis error, fall back to ``finish_job``, which retries."""
        now = utcnow()
        args = self._finish_args(job, STATUSES.SUCCESS, queue.success.key, False, STATUSES.RUNNING, True)
        try:
            result = lua.finish_and_take_next(self.queue_model.database, keys=self.fetch_keys(),
                                              args=[*args, *self._fetch_args(now)])
        except OUTAGE_ERRORS:
            return self.finish_job(job, queue, STATUSES.SUCCESS, queue.success.key, only_if=STATUSES.RUNNING)
        if len(result) > 1:
            current = self.current  # the hooks of this job come first: keep it current
            found = self._taken(now, result[1:])
            self._taken_next, self.current = (found, self.current), current
        return result[0]

    def _give_back_taken_next(self) -> None:
        """At the end of a run, put back a job taken with the last one's end and not run."""
        if self._taken_next is None:
            return
        (queue, job), _ = self._taken_next
        self._taken_next = None
        if job is not None:
            self.give_back(job, queue)

    def _guard(self, job: Job, method: Callable[..., Any], *args: Any) -> None:
        """Call a job_* hook; log what it raises (with the job's ident) instead of crashing."""
        try:
            method(*args)
        except Exception:
            self.logger.exception("[%s] %s failed for job %s", self.id, method.__name__, job.ident)

    def finish_job(self, job: Job, queue: Queue, status: str, list_key: str = "",
                   keep_queued: bool = False, only_if: str = "", end: bool = True) -> str:
        """Write a job's end in one step (status, end, list, queued flag); return its prior status.

        The current attempt's token must still be the job's (else ``"!stale"``); during a Redis
        outage it waits and retries, as the job is done and only its record is missing.
        """
        args = self._finish_args(job, status, list_key, keep_queued, only_if, end)
        backoff = BACKOFF_START
        while True:
            try:
                return lua.finish_job(job.database, args=args)
            except OUTAGE_ERRORS as exc:
                if self._now_event.is_set():
                    raise
                self.log(f"Redis unavailable ({exc}) to record the end of {job.ident}: retrying in "
                         f"{backoff:.1f}s", level="warning")
                self._now_event.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    def _finish_args(self, job: Job, status: str, list_key: str, keep_queued: bool, only_if: str,
                     end: bool) -> list[Any]:
        """The ARGV of finish_job.lua; the attempt token is checked for the current job."""
        attempt = self.current.attempt if self.current and self.current.ident == job.ident else ""
        return [job._name, job._pk, job.ident, status, list_key, datetime_to_str(utcnow()) if end else "",
                int(keep_queued), self.running_key, only_if, attempt]

    def give_back(self, job: Job, queue: Queue) -> None:
        """Put a job interrupted by a second stop signal back at the front of its queue."""
        job._enqueue((self.queue_model, queue.pk.get(), "", 0), prepend=True, release_from=self.running_key)
        self.log(f"job {job.ident} interrupted and put back at the front of its queue", level="warning")

    def execute(self, job: Job, queue: Queue) -> Any:
        """The default callback: run the job's ``run`` method."""
        return job.run(queue)

    # --- hooks (override them; keep the super() call for the writes they do)

    def _label(self, job: Job, queue: Queue) -> str:
        """``[queue|identifier]`` for log lines, without a round trip for the current job."""
        if self.current and self.current.ident == job.ident:
            identifier = self.current.identifier
        else:
            identifier = job.identifier.hget()
        return f"[{self.queue_name(queue)}|{identifier}]"

    def job_started(self, job: Job, queue: Queue) -> None:
        """The job is RUNNING (set when taken): log it and call its ``on_started``."""
        if self.logger.isEnabledFor(logging.INFO):  # messages cost: build them only when logged
            self.log(self.job_started_message(job, queue))
        job.on_started(queue)

    def job_started_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_started`` logs."""
        return f"{self._label(job, queue)} starting"

    def job_success(self, job: Job, queue: Queue, job_result: Any) -> None:
        """The job is SUCCESS, unqueued and in the success list (written just before): log, ``on_success``."""
        if self.logger.isEnabledFor(logging.INFO):
            self.log(self.job_success_message(job, queue, job_result))
        job.on_success(queue, job_result)

    def job_success_message(self, job: Job, queue: Queue, job_result: Any) -> str:
        """The line ``job_success`` logs."""
        took = utcnow() - self.current.taken_at if self.current else job.duration
        return f"{self._label(job, queue)} success, in {took}"

    def job_error(self, job: Job, queue: Queue, exception: BaseException, trace: str | None = None) -> None:
        """Mark the job ERROR, save the error, log, call ``on_error``, then requeue it if allowed."""
        requeue = self._must_requeue(job)
        found = self.finish_job(job, queue, STATUSES.ERROR, queue.errors.key, keep_queued=requeue,
                                only_if=STATUSES.RUNNING)
        if found != STATUSES.RUNNING:
            self._changed_while_running(job, queue, found)
            return
        try:
            if self.save_errors:
                self._save_error(job, queue, exception, trace)
            self.log(self.job_error_message(job, queue, exception, trace), level="error")
            self._guard(job, job.on_error, queue, exception, trace)
        finally:  # whatever failed above, a job to requeue is requeued
            if requeue:
                self._requeue_after_error(job, queue)

    def _must_requeue(self, job: Job) -> bool:
        return not job.must_be_cancelled_on_error and int(job.tries.hget() or 0) <= self.requeue_times

    def _save_error(self, job: Job, queue: Queue, exception: BaseException, trace: str | None) -> None:
        fields = self.additional_error_fields(job, queue, exception, trace)
        self.error_model.add_error(self.queue_name(queue), job, exception, trace=trace, **fields)

    def _requeue_after_error(self, job: Job, queue: Queue) -> None:
        priority = self.queue_priority(queue) + self.requeue_priority_delta
        try:
            self.requeue_job(job, queue, priority, delayed_for=self.requeue_delay_delta)
        finally:
            self.connection.zrem(self.running_key, job.ident)

    def job_error_message(self, job: Job, queue: Queue, to_be_requeued_exception: BaseException,
                          trace: str | None = None) -> str:
        """The line ``job_error`` logs."""
        exc = to_be_requeued_exception
        return f"{self._label(job, queue)} error: {type(exc).__name__}: {exc}"

    def additional_error_fields(self, job: Job, queue: Queue, exception: BaseException,
                                trace: str | None = None) -> dict[str, Any]:
        """Extra fields for the Error object (for ``error_model`` subclasses); none by default."""
        return {}

    def requeue_job(self, job: Job, queue: Queue, priority: int, delayed_for: float | None = None) -> None:
        """Put a failed job back in its queue at ``priority``, after ``delayed_for`` seconds."""
        job.requeue(queue_name=self.queue_name(queue), priority=priority, delayed_for=delayed_for or None,
                    queue_model=self.queue_model)
        self.log(self.job_requeue_message(job, queue))
        job.on_requeued(queue)

    def job_requeue_message(self, job: Job, queue: Queue) -> str:
        """The line logged when a failed job is requeued."""
        return f"{self._label(job, queue)} requeued (priority {job.priority.hget()})"

    def job_skipped(self, job: Job, queue: Queue) -> None:
        """The job was not run (not WAITING) or canceled while running: unqueue it, ``on_skipped``."""
        self.finish_job(job, queue, "", end=False)
        self.log(self.job_skipped_message(job, queue), level="warning")
        job.on_skipped(queue)

    def job_skipped_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_skipped`` logs."""
        status = STATUSES.by_value(job.status.hget(), "UNKNOWN")
        return f"{self._label(job, queue)} job skipped (current status: {status})"

    def job_delayed(self, job: Job, queue: Queue) -> None:
        """The job's status is DELAYED: put it in the delayed set (60s if no valid date), ``on_delayed``."""
        delayed_until = str_to_datetime(job.delayed_until.hget())
        if delayed_until is None:
            delayed_until = utcnow() + timedelta(seconds=DEFAULT_DELAY)
        job._enqueue((self.queue_model, queue.pk.get(), "", 0),
                     delayed=(datetime_to_str(delayed_until), delayed_until.timestamp()),
                     release_from=self.running_key)
        self.log(self.job_delayed_message(job, queue), level="warning")
        job.on_delayed(queue)

    def job_delayed_message(self, job: Job, queue: Queue) -> str:
        """The line ``job_delayed`` logs."""
        return f"{self._label(job, queue)} job delayed until {job.delayed_until.hget()}"
