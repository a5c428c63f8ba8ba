"""A failed job: its end and Error written, then, if its retry settings allow, its requeue."""

from __future__ import annotations

from typing import Any

from ..models import Job, Queue
from ..protocol import STATUSES
from ..validation import parse_count
from .attempt import Attempt
from .retries import RetryPolicy

#: The longest error text a job's history keeps for one failure.
HISTORY_DETAIL_MAX = 500


class Failures:
    """Records a worker's failed attempts: ERROR (kept queued if it is to be retried, decided
    with the ``RetryPolicy`` of its Job class), the Error object, the worker's hooks, then the
    requeue through its ``requeue_job``."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self._policies: dict[Any, RetryPolicy] = {}

    def policy(self, job: Job) -> RetryPolicy:
        """The retry settings for ``job``: the worker's, overridden by its Job class's (a task's own)."""
        source = job.retry_settings()
        policy = self._policies.get(source)
        if policy is None:
            policy = self._policies[source] = RetryPolicy.of(self.worker, source)
        return policy

    def record(self, job: Job, queue: Queue, exception: BaseException, trace: str | None) -> None:
        """Mark the job ERROR, save the error, log, call ``on_error``, then requeue it if allowed."""
        worker, endings = self.worker, self.worker.endings
        attempt = worker.holdings.attempt_of(job, queue)
        decide = lambda: self._must_requeue(job, exception)  # noqa: E731  (read again if Redis fails)
        detail = f"{type(exception).__name__}: {exception}"[:HISTORY_DETAIL_MAX]
        found, requeue = endings.record(attempt, "error",
                                        lambda: worker.recorder.error(job, attempt, decide, detail))
        if found != STATUSES.RUNNING:
            endings.changed_while_running(job, queue, found)
            return
        try:
            if worker.save_errors:
                fields = worker.additional_error_fields(job, queue, exception, trace)
                worker.error_model.add_error(attempt.queue_name, job, exception, trace=trace, **fields)
            endings.log_job(worker.job_error_message(job, queue, exception, trace), job, queue, level="error")
            endings.call_hook(job, job.on_error, queue, exception, trace)
        finally:  # whatever failed above, a job to requeue is requeued
            if requeue:
                self._requeue(job, queue, attempt)

    def requeue(self, job: Job, queue: Queue, priority: int, delayed_for: float | None) -> None:
        """Put a failed job back in its queue at ``priority``, after ``delayed_for`` seconds."""
        worker = self.worker
        if not job.requeue(queue_name=worker.holdings.attempt_of(job, queue).queue_name, priority=priority,
                           delayed_for=delayed_for or None, queue_model=worker.queue_model):
            worker.endings.stale(job, "not requeued")
            return
        worker.endings.log_job(worker.job_requeue_message(job, queue), job, queue)
        job.on_requeued(queue)

    def _must_requeue(self, job: Job, error: BaseException | None = None) -> bool:
        """Whether a failed job goes back to its queue (read again if Redis fails meanwhile)."""
        try:
            tries = parse_count(job.tries.hget())
        except ValueError as exc:
            self.worker.log(f"job {job.ident} has a malformed tries field ({exc}): not requeued",
                            level="error")
            return False
        return not job.must_be_cancelled_on_error and self.policy(job).retries(tries, error)

    def _requeue(self, job: Job, queue: Queue, attempt: Attempt) -> None:
        """Requeue a failed job (through the overridable ``requeue_job``), then release it; if that
        fails, it stays held, and the worker's reconciliation gives it back."""
        worker = self.worker
        policy = self.policy(job)
        tries = attempt.tries or parse_count(job.tries.hget() or 0)
        priority, delay = policy.priority(attempt.queue_priority), policy.delay(tries)
        try:
            worker.recorder.retrying(lambda: worker.requeue_job(job, queue, priority, delayed_for=delay),
                                     f"to requeue {job.ident}")
        except BaseException:
            worker.fetcher.take_lost = True
            raise
        worker.recorder.release(job.ident)
