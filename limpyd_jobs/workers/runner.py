"""The run of one held job: its executor, its hooks around the callback, the end it reached."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from ..exceptions import JobProcessDied, JobTimeout
from ..models import Job, Queue
from ..protocol import STATUSES
from .attempt import Attempt
from .executors import DIED, INTERRUPTED, TIMEOUT

#: What an executor hands its target: a context manager factory that bounds the job's own code.
Guard = Callable[[float | None], Any]


class JobRun:
    """Runs a job the worker holds through its executor (the executor calls ``run`` back, here
    or in a child process), then has its end written: ``job_started``, the callback, then
    ``job_success`` (or the batch of successes), ``job_error``, ``job_skipped`` or ``job_delayed``."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def execute(self, job: Job, queue: Queue, attempt: Attempt) -> None:
        """Run a job just taken (skip or delay it if it was not WAITING), then let it go unless its
        success waits in the batch."""
        worker = self.worker
        try:
            if attempt.runs:
                self._after_execution(job, queue, attempt, worker.executor.execute(attempt))
            else:
                self.handle(job, queue)
        finally:
            if not worker.batch.holds(attempt.ident):  # a success to write: held until written
                worker.holdings.drop(attempt.ident)

    def run(self, attempt: Attempt, guard: Guard) -> None:
        """The executor's target: run a held attempt (in a pre-forked child, rebuilt from data)."""
        if attempt.job is not None:
            self.handle(attempt.job, attempt.queue, guard)
            return
        holdings = self.worker.holdings
        holdings.rebuild(attempt)
        try:
            self.handle(attempt.job, attempt.queue, guard)
        finally:
            holdings.drop(attempt.ident)

    def handle(self, job: Job, queue: Queue, guard: Guard | None = None) -> None:
        """Run a job just taken (or skip or delay it if it was not WAITING) and record its end."""
        worker, endings = self.worker, self.worker.endings
        attempt = worker.holdings.attempt_of(job, queue)
        if not attempt.runs:
            job._cached_status = attempt.status  # the status the take found, as redis-limpyd-jobs set it
            hook = worker.job_delayed if attempt.status == STATUSES.DELAYED else worker.job_skipped
            endings.call_hook(job, hook, job, queue)
            return
        worker.set_status("running")
        endings.call_hook(job, worker.job_started, job, queue)
        worker.notify("before_run", worker, attempt)
        try:
            with (guard or worker.executor.guard)(attempt.timeout):
                result = (worker.execute if job.runs_itself else worker.callback)(job, queue)
                if inspect.isawaitable(result):  # an ``async def`` callback: run on a loop of its own
                    result = asyncio.run(_awaited(result))
        except Exception as exc:
            job.drop_snapshot()  # its end is written by scripts: read from Redis from now on
            worker.notify("after_run", worker, attempt, exc)
            trace = traceback.format_exc() if worker.save_tracebacks else None
            endings.call_hook(job, worker.job_error, job, queue, exc, trace)
        else:
            job.drop_snapshot()
            worker.notify("after_run", worker, attempt, None)
            if worker.batch.applies:
                worker.batch.add(job, queue, attempt, result)
            else:
                endings.success(job, queue, attempt, result)

    def _after_execution(self, job: Job, queue: Queue, attempt: Attempt, outcome: Any) -> None:
        """Record what the executor saw when the job did not end by itself."""
        worker = self.worker
        if outcome.kind == TIMEOUT:
            error: Exception = JobTimeout(f"job ran for more than {attempt.timeout}s, killed")
            worker.endings.call_hook(job, worker.job_error, job, queue, error)
        elif outcome.kind == DIED:
            error = JobProcessDied(f"the job's process died ({outcome.detail})")
            worker.endings.call_hook(job, worker.job_error, job, queue, error)
        elif outcome.kind == INTERRUPTED:
            worker.give_back(job, queue)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable
