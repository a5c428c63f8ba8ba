"""The errors of tasks, named as Django's task framework names them."""

from __future__ import annotations

from ..exceptions import LimpydJobsException


class TaskException(LimpydJobsException):
    """Root of the errors of tasks."""


class InvalidTask(TaskException, ValueError):
    """A task, or an option given to ``@task`` or ``using``, is not valid."""


class TaskResultDoesNotExist(TaskException):
    """No task result has this id (never enqueued, or deleted once its ``result_ttl`` went by)."""


class TaskResultMismatch(TaskException):
    """``Task.get_result`` was given the id of another task's result."""


class UnknownTask(TaskException):
    """A task job names a task this process did not register: it fails, and is never retried."""


class InvalidTaskData(TaskException):
    """A task job's arguments, as read from Redis, are not what enqueue writes: it fails, never retried."""
