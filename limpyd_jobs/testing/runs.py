"""Run what is queued, in this process, until nothing is left to run, and say what ran."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import shards
from ..models import Job, Queue
from ..utils import normalize_names
from ..workers import Worker
from ..workers.attempt import Attempt
from ..workers.observers import WorkerObserver


@dataclass(frozen=True)
class Ran:
    """A job a ``run_jobs`` worker took, and how it ended."""

    queue: str
    identifier: str
    ident: str
    #: success, error, skipped (canceled or done meanwhile), delayed, given_back
    ending: str
    #: What the job's code raised (None when it did not run or did not raise).
    error: BaseException | None = field(default=None, compare=False)
    #: Which attempt of the job this was (1 for its first run; None when it did not run).
    attempt: int | None = None
    job: Job | None = field(default=None, repr=False, compare=False)

    @property
    def succeeded(self) -> bool:
        return self.ending == "success"


class _Record(WorkerObserver):
    """An observer keeping the end of each job the worker took, in order."""

    def __init__(self) -> None:
        self.ran: list[Ran] = []
        self.errors: dict[str, BaseException] = {}

    def after_run(self, worker: Any, attempt: Attempt, error: BaseException | None) -> None:
        if error is not None:
            self.errors[attempt.token] = error

    def after_record(self, worker: Any, attempt: Attempt, ending: str) -> None:
        self.ran.append(Ran(attempt.queue_name, attempt.identifier, attempt.ident, ending,
                            self.errors.pop(attempt.token, None), attempt.tries if attempt.runs else None,
                            attempt.job))


class JobFailed(AssertionError):
    """A job run by ``run_jobs(..., raise_errors=True)`` raised: its exception is the cause."""


def run_jobs(queues: str | Iterable[str], callback: Any = None, *, worker_class: type[Worker] = Worker,
             raise_errors: bool = False, **options: Any) -> list[Ran]:
    """Run the jobs of these queues that are due, with a worker in this process, until none is
    left (jobs delayed to later stay delayed); return what ran, in order (sharded: a worker for
    the queues of each shard, in turn).

    ``callback``: the worker's (None: each job's ``run``); ``options``: more worker options.
    ``raise_errors``: after the run, raise JobFailed from the first exception a job raised."""
    record = _Record()
    settings = {"burst": True, "max_loops": None, "terminate_gracefuly": False, "timeout": 0.05,
                **options}
    settings["observers"] = (*settings.get("observers", ()), record)
    names = [queues] if isinstance(queues, str) else list(queues)
    groups = [names]
    if shards.sharded():
        by_shard: dict[int, list[str]] = {}
        for name in normalize_names(names):
            by_shard.setdefault(shards.shard_of(name), []).append(name)
        groups = [by_shard[index] for index in sorted(by_shard)]
    for group in groups:
        worker_class(queues=group, callback=callback, **settings).run()
    if raise_errors:
        failed = next((ran for ran in record.ran if ran.error is not None), None)
        if failed is not None:
            raise JobFailed(f"job {failed.identifier!r} of queue {failed.queue!r} raised "
                            f"{type(failed.error).__name__}: {failed.error}") from failed.error
    return record.ran


def burst(callback: Any = None, *, queue_model: type[Queue] = Queue, **options: Any) -> list[Ran]:
    """``run_jobs`` on every queue of ``queue_model`` in Redis (of every shard), highest priority
    first (none: an empty list, no worker run)."""
    found = shards.across(lambda: [name for _, name, _ in queue_model.by_priority() if name])
    names = list(dict.fromkeys(name for names_there in found for name in names_there))
    if not names:
        return []
    return run_jobs(names, callback, queue_model=queue_model, **options)
