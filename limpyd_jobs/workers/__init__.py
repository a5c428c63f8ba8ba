"""Workers: the ``Worker`` and the parts it is made of, and ``WorkerConfig`` (from ``cli``).

``from limpyd_jobs.workers import Worker, WorkerConfig, LOGGER_NAME`` works as redis-limpyd-jobs
documents it; ``WorkerConfig`` is imported only when asked for (it belongs to the command line).
"""

from __future__ import annotations

from typing import Any

from ..constants import LOGGER_NAME
from .worker import Worker

__all__ = ["Worker", "WorkerConfig", "LOGGER_NAME"]


def __getattr__(name: str) -> Any:
    if name == "WorkerConfig":
        from ..cli.config import WorkerConfig

        return WorkerConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
