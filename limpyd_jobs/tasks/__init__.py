"""Tasks: functions enqueued with JSON arguments and run by the workers, their results kept.

In the vocabulary of Django's task framework: ``@task``, ``Task.enqueue`` -> ``TaskResult``,
``Task.using``, ``get_result``. A run is a ``TaskJob`` job: priorities, delays, retries,
recovery, history, metrics and the commands work for tasks as for any job.
"""

from __future__ import annotations

from typing import Any

from .base import Task, TaskError, TaskResult, TaskResultStatus, task, use_default_backend
from .exceptions import (
    InvalidTask,
    InvalidTaskData,
    TaskException,
    TaskResultDoesNotExist,
    TaskResultMismatch,
    UnknownTask,
)

__all__ = ["task", "Task", "TaskResult", "TaskResultStatus", "TaskError", "get_result", "TaskJob",
           "TaskException", "InvalidTask", "TaskResultDoesNotExist", "TaskResultMismatch", "UnknownTask",
           "InvalidTaskData"]


def _default_backend() -> Any:
    """The backend of tasks that name none, imported (with the job models) when first used."""
    global _backend
    if _backend is None:
        from .backend import default_backend

        _backend = default_backend
    return _backend()


_backend: Any = None


use_default_backend(_default_backend)


def get_result(result_id: str) -> TaskResult:
    """The result of any task by its id, from any process; TaskResultDoesNotExist if unknown."""
    return _default_backend().get_result(result_id)


def __getattr__(name: str) -> Any:
    if name == "TaskJob":  # the model: imported with the backend, when first asked for
        from .models import TaskJob

        return TaskJob
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
