"""How the end of a worker's attempt is written, and what follows it: hooks, logs, stale attempts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from ..constants import DEFAULT_DELAY
from ..models import Job, Queue
from ..protocol import STATUSES, EndRefusal
from ..utils import str_to_datetime
from .attempt import Attempt


class Endings:
    """Writes the end of an attempt through the ``Recorder`` (between the observers'
    ``before_record`` and ``after_record``), then calls the worker's hook for it; an end refused
    because a newer attempt holds the job (or it was canceled) is logged, nothing else."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def success(self, job: Job, queue: Queue, attempt: Attempt, result: Any) -> None:
        """Mark the job SUCCESS (taking the next job along when it can), unless it was canceled
        or delayed while running."""
        worker = self.worker
        take_next = worker.fetcher.request(worker.keys) if self.may_take_next() else None
        worker.notify("before_record", worker, attempt, "success")
        previous, taken, take_lost = worker.recorder.success(job, attempt, take_next)
        if taken is not None:
            worker.fetcher.keep(taken)
        worker.fetcher.take_lost |= take_lost
        if previous == STATUSES.RUNNING:
            worker.notify("after_record", worker, attempt, "success")
            self.call_hook(job, worker.job_success, job, queue, result)
        else:
            self.changed_while_running(job, queue, previous)

    def may_take_next(self) -> bool:
        """Whether to take the next job in the same round trip as this one's end."""
        worker = self.worker
        return worker.executor.shares_worker_process and bool(worker.keys) and not worker.must_stop()

    def skip(self, job: Job, queue: Queue) -> bool:
        """Unqueue a job that is not run, status unchanged; False if the attempt is stale."""
        attempt = self.worker.holdings.attempt_of(job, queue)
        written = self.record(attempt, "skipped", lambda: self.worker.recorder.skip(job, attempt))
        if written == EndRefusal.STALE:
            self.stale(job, "not skipped")
            return False
        return True

    def delay(self, job: Job, queue: Queue) -> bool:
        """Put a DELAYED job in its queue's delayed set (in 60s if it has no valid date); False
        if the attempt is stale."""
        worker = self.worker
        attempt = worker.holdings.attempt_of(job, queue)
        until = (str_to_datetime(job.delayed_until.hget())
                 or worker.clock.now() + timedelta(seconds=DEFAULT_DELAY))
        if not self.record(attempt, "delayed", lambda: worker.recorder.delay(job, attempt, until)):
            self.stale(job, "not delayed")
            return False
        return True

    def give_back(self, job: Job, queue: Queue, patient: bool = True) -> bool:
        """Put a job that did not run to its end back at the front of its queue; False if stale."""
        attempt = self.worker.holdings.attempt_of(job, queue)
        if self.record(attempt, "given_back", lambda: self.worker.recorder.give_back(job, attempt, patient)):
            return True
        self.stale(job, "not given back")
        return False

    def changed_while_running(self, job: Job, queue: Queue, found: str) -> None:
        """The job was not RUNNING any more when it ended: skip, delay, or leave it as it is."""
        worker = self.worker
        job._cached_status = found  # the status found, as redis-limpyd-jobs set it for the hooks
        if found == STATUSES.CANCELED:
            self.call_hook(job, worker.job_skipped, job, queue)
        elif found == STATUSES.DELAYED:
            self.call_hook(job, worker.job_delayed, job, queue)
        elif found == EndRefusal.STALE:
            self.stale(job, "this attempt's end is not recorded")
        else:
            worker.log(f"job {job.ident} ended with status {found!r}, set while it ran: left as is",
                       level="warning")
            worker.recorder.release(job.ident)

    def record(self, attempt: Attempt, ending: str, write: Callable[[], Any]) -> Any:
        """Write the end of an attempt, between the observers' before_record and after_record."""
        worker = self.worker
        worker.notify("before_record", worker, attempt, ending)
        written = write()
        worker.notify("after_record", worker, attempt, ending)
        return written

    def stale(self, job: Job, what: str) -> None:
        """Log that a write of this worker's attempt was refused: a newer attempt holds the job, or
        it was canceled meanwhile."""
        if job.status.hget() == STATUSES.CANCELED:
            self.worker.log(f"job {job.ident} was canceled meanwhile: {what}", level="warning")
        else:
            self.worker.log(f"job {job.ident} was recovered and taken again meanwhile: {what}",
                            level="warning")

    def call_hook(self, job: Job, method: Callable[..., Any], *args: Any) -> None:
        """Call a hook; log what it raises (with the job's ident) instead of crashing."""
        try:
            method(*args)
        except Exception:
            self.worker.logger.exception("[%s] %s failed for job %s", self.worker.id, method.__name__,
                                         job.ident)

    def log_job(self, message: str, job: Job, queue: Queue, level: str = "info", **fields: Any) -> None:
        """Log a line about a job, with its queue, identifier, ident, attempt and duration as fields."""
        worker = self.worker
        attempt = worker.holdings.attempt_of(job, queue)
        took = (worker.clock.now() - attempt.taken_at).total_seconds()
        worker.log(message, level, queue=attempt.queue_name, identifier=attempt.identifier,
                   ident=attempt.ident, attempt=attempt.tries, duration=round(took, 6), **fields)
