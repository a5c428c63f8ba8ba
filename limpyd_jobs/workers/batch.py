"""The successes of prefetched jobs, written together in one round trip with the next take."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from ..models import Job, Queue
from ..protocol import STATUSES
from .attempt import Attempt


class PendingSuccess(NamedTuple):
    job: Job
    queue: Queue
    attempt: Attempt
    result: Any
    ended_at: datetime


class SuccessBatch:
    """With ``prefetch`` (in-process), the successes not written yet: their jobs stay held until
    ``write`` records them all, once the jobs taken ahead are run (or the worker must stop)."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.pending: dict[str, PendingSuccess] = {}

    @property
    def applies(self) -> bool:
        """Whether successes wait for a batch (several jobs per take, run in the worker's process)."""
        return self.worker.prefetch > 1 and self.worker.executor.shares_worker_process

    def holds(self, ident: str) -> bool:
        """Whether the success of this job waits to be written (its job stays held until then)."""
        return ident in self.pending

    def add(self, job: Job, queue: Queue, attempt: Attempt, result: Any) -> None:
        """Note a success; write the batch once no job taken ahead is left (or the worker must stop)."""
        worker = self.worker
        self.pending[attempt.ident] = PendingSuccess(job, queue, attempt, result, worker.clock.now())
        if not worker.fetcher.holds_one or worker.must_stop():
            self.write()

    def write(self, count: int | None = None) -> None:
        """Write the pending successes in one round trip (taking up to ``count`` next jobs along
        when it can: ``prefetch`` by default), then call their hooks."""
        if not self.pending:
            return
        worker, endings = self.worker, self.worker.endings
        ended = list(self.pending.values())
        count = worker.prefetch if count is None else count
        take_next = worker.fetcher.request(worker.keys) if count and endings.may_take_next() else None
        for success in ended:
            worker.notify("before_record", worker, success.attempt, "success")
        self.pending = {}
        try:
            previous, taken, take_lost = worker.recorder.successes(
                [(success.job, success.attempt, success.ended_at) for success in ended], take_next, count)
        except BaseException:  # not written: forgotten, so that a reconciliation gives them back
            for success in ended:
                worker.holdings.drop(success.attempt.ident)
            worker.fetcher.take_lost = True
            raise
        if taken:
            worker.fetcher.keep(taken)
        worker.fetcher.take_lost |= take_lost
        self._after_written(ended, previous)

    def _after_written(self, ended: list[PendingSuccess], previous: list[str]) -> None:
        """Call the hook of each success written (each job's own if it changed while it ran), then
        let the job go."""
        worker, endings = self.worker, self.worker.endings
        for success, found in zip(ended, previous, strict=True):
            job, queue = success.job, success.queue
            try:
                if found == STATUSES.RUNNING:
                    worker.notify("after_record", worker, success.attempt, "success")
                    endings.call_hook(job, worker.job_success, job, queue, success.result)
                else:
                    endings.changed_while_running(job, queue, found)
            finally:
                worker.holdings.drop(success.attempt.ident)
