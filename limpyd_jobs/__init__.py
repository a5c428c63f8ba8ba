"""limpyd-jobs: a job system on redis-limpyd models (Queue, Job, Error) run by workers."""

from __future__ import annotations

from .constants import LOGGER_NAME, __version__
from .exceptions import ConfigurationException, LimpydJobsException
from .models import Error, Job, Queue
from .protocol import STATUSES

__all__ = [
    "STATUSES", "LOGGER_NAME", "Queue", "Job", "Error", "Worker",
    "LimpydJobsException", "ConfigurationException", "__version__",
    "task", "get_result", "TaskResult",
]

#: Names of the tasks layer, loaded when first asked for.
_TASKS = ("task", "get_result", "TaskResult")


def __getattr__(name: str):
    # The worker imports setproctitle and signal handling: load it only when asked for.
    if name == "Worker":
        from .workers import Worker

        return Worker
    if name in _TASKS:
        from . import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module 'limpyd_jobs' has no attribute {name!r}")
