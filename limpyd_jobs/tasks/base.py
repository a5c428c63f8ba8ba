"""Tasks in the vocabulary of Django's task framework (``django.tasks``), without Django.

``@task`` makes a ``Task`` of a function; ``Task.enqueue`` gives a ``TaskResult``. What stores
and runs them is a backend (``backend.LimpydBackend`` by default, on the job models and workers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from . import registry
from .exceptions import InvalidTask, TaskResultMismatch

DEFAULT_QUEUE_NAME = "default"
DEFAULT_PRIORITY = 0
MIN_PRIORITY, MAX_PRIORITY = -100, 100
#: Seconds a result is kept by default (then deleted with its job): a day.
DEFAULT_RESULT_TTL = 24 * 3600

#: Makes the backend of the tasks and results that name none (see ``use_default_backend``).
_backend_factory: Callable[[], Any] | None = None


def use_default_backend(factory: Callable[[], Any]) -> None:
    """Set what makes the backend of the tasks and results that name none: the package sets
    ``backend.default_backend`` (the backend imports this module, so this one cannot import it)."""
    global _backend_factory
    _backend_factory = factory


def default_backend() -> Any:
    """The backend of the tasks and results that name none."""
    if _backend_factory is None:
        raise RuntimeError("no default task backend: import limpyd_jobs.tasks")
    return _backend_factory()


class TaskResultStatus(str, Enum):
    """Where a task is: READY (to run, or to run again), RUNNING, FAILED, SUCCESSFUL."""

    READY = "READY"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    SUCCESSFUL = "SUCCESSFUL"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class RetrySettings:
    """A task's retry options, under the names the worker's retry policy reads (None: the worker's)."""

    requeue_times: int | None = None
    requeue_delay_delta: float | None = None
    requeue_backoff: float | None = None
    requeue_jitter: float | None = None
    requeue_max_delay: float | None = None
    requeue_priority_delta: int | None = None
    never_retry: tuple[type[BaseException], ...] = ()


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """A function that can be enqueued: its options, and how to enqueue it (``enqueue``, ``using``)."""

    func: Callable[..., Any]
    priority: int = DEFAULT_PRIORITY
    queue_name: str = DEFAULT_QUEUE_NAME
    run_after: datetime | timedelta | None = None
    #: Retries after a failure (None: the worker's ``requeue_times``), ``retry_delay`` seconds apart
    #: (0: at once), times ``retry_backoff`` after each, never for an exception of ``never_retry``.
    retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: float | None = None
    never_retry: tuple[type[BaseException], ...] = ()
    #: Seconds it may run (forked execution modes stop it then); None: the worker's ``job_timeout``.
    timeout: float | None = None
    #: Seconds its result is kept once it ended, then deleted with its job.
    result_ttl: float = DEFAULT_RESULT_TTL
    #: One queued run per task and arguments: enqueue returns the one queued, if any.
    unique: bool = False
    #: A dedup key of the caller's (``using(identifier=...)``): one queued run per identifier.
    identifier: str | None = None
    backend: Any = None

    def __post_init__(self) -> None:
        check(self)

    @property
    def name(self) -> str:
        return self.func.__name__

    @property
    def module_path(self) -> str:
        """The task's name in Redis (and in this process's registry): ``module.function``."""
        return f"{self.func.__module__}.{self.func.__qualname__}"

    @property
    def retry_settings(self) -> RetrySettings:
        """The options the worker's retry policy reads for this task's jobs."""
        return _retry_settings(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function itself, here."""
        return self.func(*args, **kwargs)

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function here, on an event loop of its own if it is ``async def`` (its
        coroutine, to await, when an event loop runs in this thread: a worker's, with concurrency)."""
        if inspect.iscoroutinefunction(self.func):
            coroutine = self.func(*args, **kwargs)
            return coroutine if _loop_running() else asyncio.run(coroutine)
        return self.func(*args, **kwargs)

    def using(self, *, priority: int | None = None, queue_name: str | None = None,
              run_after: datetime | timedelta | None = None, identifier: str | None = None,
              backend: Any = None) -> Task:
        """This task with other options for its next enqueues."""
        changes = {name: value for name, value in (("priority", priority), ("queue_name", queue_name),
                                                   ("run_after", run_after), ("identifier", identifier),
                                                   ("backend", backend)) if value is not None}
        return dataclasses.replace(self, **changes)

    def enqueue(self, *args: Any, **kwargs: Any) -> TaskResult:
        """Queue a run with these arguments (JSON: anything else is refused, and nothing written)."""
        return self.get_backend().enqueue(self, args, kwargs)

    def get_result(self, result_id: str) -> TaskResult:
        """The result of a run of this task; TaskResultDoesNotExist, or TaskResultMismatch when it is
        another task's."""
        result = self.get_backend().get_result(result_id)
        if result.task_name != self.module_path:
            raise TaskResultMismatch(f"{result_id!r} is a result of {result.task_name!r}, "
                                     f"not {self.module_path!r}")
        return result

    def get_backend(self) -> Any:
        return self.backend if self.backend is not None else default_backend()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _retry_settings(task: Task) -> RetrySettings:
    from .exceptions import InvalidTaskData, UnknownTask

    return RetrySettings(requeue_times=task.retries, requeue_delay_delta=task.retry_delay,
                         requeue_backoff=task.retry_backoff,
                         never_retry=(*task.never_retry, UnknownTask, InvalidTaskData))


def check(task: Task) -> None:
    """Refuse a task that could not run in a worker, or options that make no sense (InvalidTask)."""
    if not callable(task.func) or not hasattr(task.func, "__qualname__"):
        raise InvalidTask(f"a task is a function, not {task.func!r}")
    if "<locals>" in task.func.__qualname__ or "<lambda>" in task.func.__qualname__:
        raise InvalidTask(f"{task.func.__qualname__} is not a function of a module: no worker could find it")
    if type(task.priority) is not int or not MIN_PRIORITY <= task.priority <= MAX_PRIORITY:
        raise InvalidTask(f"priority is an integer from {MIN_PRIORITY} to {MAX_PRIORITY}, "
                          f"not {task.priority!r}")
    if not isinstance(task.queue_name, str) or not task.queue_name or "," in task.queue_name:
        raise InvalidTask(f"queue_name is a non-empty str without ',', not {task.queue_name!r}")
    if isinstance(task.run_after, datetime) and task.run_after.utcoffset() is None:
        raise InvalidTask("run_after is an aware datetime (with a time zone) or a timedelta, "
                          "not a naive datetime")
    if task.run_after is not None and not isinstance(task.run_after, (datetime, timedelta)):
        raise InvalidTask(f"run_after is an aware datetime or a timedelta, not {task.run_after!r}")
    for name in ("retries", "retry_delay", "retry_backoff", "timeout", "result_ttl"):
        value = getattr(task, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value < float("inf")):
            raise InvalidTask(f"{name} is a number of at least 0, not {value!r}")
    if task.result_ttl is None or task.result_ttl <= 0:
        raise InvalidTask(f"result_ttl is a number of seconds above 0, not {task.result_ttl!r}")
    if task.identifier is not None and (not isinstance(task.identifier, str) or not task.identifier):
        raise InvalidTask(f"identifier is a non-empty str, not {task.identifier!r}")
    if not all(isinstance(error, type) and issubclass(error, BaseException) for error in task.never_retry):
        raise InvalidTask(f"never_retry is a tuple of exception classes, not {task.never_retry!r}")


def task(function: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``@task`` or ``@task(queue_name=..., priority=..., retries=..., ...)``: make a Task of a
    module-level function, registered in this process (workers run only registered tasks)."""
    def wrap(func: Callable[..., Any]) -> Task:
        made = Task(func=func, **options)
        registry.register(made)
        return made

    return wrap(function) if function is not None else wrap


@dataclasses.dataclass(frozen=True)
class TaskError:
    """One failed attempt: the path of the exception's class, and the traceback."""

    exception_class_path: str
    traceback: str


@dataclasses.dataclass(eq=False)
class TaskResult:
    """What is known of one enqueued run of a task, as of its last ``refresh``."""

    task: Task | None  # None when the task is not registered in this process
    id: str
    status: TaskResultStatus
    enqueued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    last_attempted_at: datetime | None
    args: list[Any]
    kwargs: dict[str, Any]
    errors: list[TaskError]
    worker_ids: list[str]
    attempts: int
    task_name: str
    backend: Any = dataclasses.field(default=None, repr=False)
    _return_value: Any = dataclasses.field(default=None, repr=False)

    @property
    def return_value(self) -> Any:
        """What the task returned; ValueError unless it is SUCCESSFUL (a task may return None)."""
        if self.status == TaskResultStatus.SUCCESSFUL:
            return self._return_value
        if self.status == TaskResultStatus.FAILED:
            raise ValueError("the task failed: it has no return value (see errors)")
        raise ValueError("the task has not finished yet")

    @property
    def is_finished(self) -> bool:
        return self.status in (TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL)

    def refresh(self) -> None:
        """Read the result again from where it is stored."""
        self._update(self._backend().get_result(self.id))

    def wait(self, timeout: float | None = None) -> TaskResult:
        """Block until the task ends (woken by its end), then return this result, refreshed;
        TimeoutError if it did not end within ``timeout`` seconds (None: no limit)."""
        self._update(self._backend().wait(self.id, timeout))
        return self

    def _update(self, other: TaskResult) -> None:
        for field in dataclasses.fields(self):
            if field.name not in ("task", "backend"):
                setattr(self, field.name, getattr(other, field.name))

    def _backend(self) -> Any:
        return self.backend if self.backend is not None else default_backend()
