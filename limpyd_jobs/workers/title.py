"""What a worker shows of itself: its process title and the banner it logs when it starts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..connection import describe
from ..constants import __version__
from ..recurring.scheduler import DEFAULT_TIMEOUT


def proc_title(worker: Any) -> str:
    """``limpyd-jobs-worker#<id> [status] queues=a,b loop=1/1000 waiting=9 delayed=2 duration=…``
    (``in_flight=N`` after the counts, with ``concurrency``)."""
    title = f"{worker.title_prefix}#{worker.id} [{worker.status or 'init'}] queues={','.join(worker.queues)}"
    if worker.status in (None, "init"):
        return title
    waiting, delayed = worker.fetcher.counts
    title += f" loop={worker.num_loops}/{worker.max_loops} waiting={waiting} delayed={delayed}"
    if worker.flights.active:
        title += f" in_flight={worker.flights.in_flight}"
    if worker.elapsed is not None and worker.status != "starting":
        title += f" duration={timedelta(seconds=int(worker.elapsed.total_seconds()))}"
        if worker.max_duration:
            title += f"/{worker.max_duration}"
    return title


def banner(worker: Any) -> str:
    """The line saying what runs: version, Redis (never its password), queues, mode, key options."""
    limits = (("max_loops", worker.max_loops), ("max_duration", worker.max_duration),
              ("job_timeout", worker.job_timeout))
    options = [f"{name}={value if value else 'none'}" for name, value in limits]
    options.append(f"(recurring runs: {DEFAULT_TIMEOUT:g}s unless their schedule sets a timeout)")
    options.append(f"requeue_times={worker.requeue_times}")
    if worker.requeue_times:
        options.append(f"(delay {worker.requeue_delay_delta}s, backoff x{worker.requeue_backoff})")
    mode = worker.execution_mode + (f" {worker.flights.describe()}" if worker.flights.active else "")
    mode += " burst" if worker.burst else ""
    return (f"limpyd-jobs {__version__} worker {worker.id} started on Redis "
            f"{describe(worker.queue_model.database.connection_settings)}: queues={','.join(worker.queues)} "
            f"mode={mode} {' '.join(options)}")
