"""Operating limpyd-jobs: what an operator asks of queues, jobs and workers, and what they do.

Reads (``reads``) send read commands only, in pipelines; writes (``writes``) are one Lua script
each. A queue NAME stands for every Queue of that name, one per priority. Jobs are read through
the job models registry and the Job models of this process: a Redis value never decides what is
imported.
"""

from __future__ import annotations

from .errors import JobStateError, OperationError, UnknownJob, UnknownQueue, UnknownWorker
from .reads import (
    HEARTBEAT_TIMEOUT,
    STATES,
    all_counts,
    counts,
    failures,
    find_job,
    health,
    job_errors,
    job_history,
    jobs,
    paused,
    queue_names,
    recent_failures,
    workers,
)
from .timeouts import INTERACTIVE_TIMEOUT, use_timeouts
from .views import ErrorInfo, Health, JobInfo, QueueCounts, RunningJob, WorkerState
from .writes import (
    HALT,
    STOP_REQUEST_TTL,
    cancel,
    control,
    empty,
    pause,
    requeue,
    requeue_failed,
    resume,
    stop_workers,
)

__all__ = [
    "STATES", "HEARTBEAT_TIMEOUT", "OperationError", "UnknownQueue", "UnknownJob", "UnknownWorker",
    "JobStateError", "QueueCounts", "JobInfo", "ErrorInfo", "RunningJob", "WorkerState", "Health",
    "queue_names", "counts", "all_counts", "jobs", "find_job", "job_errors", "job_history", "failures",
    "cancel", "requeue", "requeue_failed", "empty", "pause", "resume", "paused", "workers", "stop_workers",
    "health", "STOP_REQUEST_TTL", "HALT", "control", "recent_failures", "INTERACTIVE_TIMEOUT", "use_timeouts",
]
