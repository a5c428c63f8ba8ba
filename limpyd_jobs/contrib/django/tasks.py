"""``LimpydJobsBackend``: a backend of Django's task framework on limpyd-jobs' task layer.

``TASKS = {"default": {"BACKEND": "limpyd_jobs.contrib.django.tasks.LimpydJobsBackend",
"QUEUES": [...], "OPTIONS": {...}}}``; ``manage.py limpyd_jobs_worker`` runs the tasks. A run is
a ``DjangoTaskJob``: priorities, delays, retries, recovery and history are a job's.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils.module_loading import import_string
from redis.exceptions import RedisError

from limpyd_jobs.models import Queue
from limpyd_jobs.tasks import codec
from limpyd_jobs.tasks import exceptions as ours
from limpyd_jobs.tasks.backend import LimpydBackend
from limpyd_jobs.tasks.base import Task as LimpydTask
from limpyd_jobs.tasks.base import TaskResult as LimpydTaskResult
from limpyd_jobs.tasks.base import TaskResultStatus as LimpydStatus
from limpyd_jobs.tasks.models import TaskJob

from . import discovery
from .compat import (
    BaseTaskBackend,
    InvalidTask,
    InvalidTaskBackend,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    normalize_json,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)

logger = logging.getLogger(__name__)

#: Our options of a task (``OPTIONS``, ``OPTIONS["tasks"][path]``, ``@task(...)``), as limpyd tasks name them.
TASK_OPTIONS = ("retries", "retry_delay", "retry_backoff", "never_retry", "timeout", "result_ttl", "unique")
#: The other keys of ``OPTIONS``.
BACKEND_OPTIONS = ("enqueue_on_commit", "tasks")
#: How the id of a result enqueued at a commit starts, until the commit gives it its job's.
PENDING_PREFIX = "pending-commit:"


@dataclasses.dataclass(frozen=True, kw_only=True, **({"slots": True} if "__slots__" in vars(Task) else {}))
class LimpydJobsTask(Task):
    """A Django ``Task`` with limpyd-jobs' options (None: the backend's ``OPTIONS``), given as
    ``@task(retries=3, ...)`` where Django passes them on to the backend's ``task_class``."""

    retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: float | None = None
    never_retry: tuple[type[BaseException], ...] | None = None
    timeout: float | None = None
    result_ttl: float | None = None
    unique: bool | None = None
    #: A database alias, True (the default database) or False; None: ``OPTIONS["enqueue_on_commit"]``.
    enqueue_on_commit: bool | str | None = None


class DjangoTaskJob(TaskJob):
    """The job of one run of a Django task: the task is found among those the worker imported
    (never imported from what Redis holds), given its context, and the signals are sent."""

    def run(self, queue: Queue) -> Any:
        """Run the task (with its context if it takes one), its signals sent around it."""
        found, backend = self._task_and_backend()
        if backend is None:
            raise ours.UnknownTask(f"{self.task_name.hget()!r} is not a Django task of this worker: only the "
                                   "Task objects of the apps' tasks modules and of --job-modules run, never "
                                   "one imported from Redis")
        name = found.module_path
        args, kwargs = self.read_arguments()
        started = backend.get_result(self.ident)
        _send(task_started, backend, started)
        if found.takes_context:
            value = found.call(TaskContext(task_result=started), *args, **kwargs)
        else:
            value = found.call(*args, **kwargs)
        self.__dict__["_result"] = codec.dumps(normalize_json(value), f"the return value of {name}")
        return value

    def retry_settings(self) -> Any:
        """The retry options of the task (its own, over the backend's ``OPTIONS``)."""
        found, backend = self._task_and_backend()
        return backend.limpyd_task(found).retry_settings if backend is not None else type(self)

    def on_success(self, queue: Queue, result: Any) -> None:
        self._finished()

    def on_error(self, queue: Queue, exception: BaseException, traceback: str | None) -> None:
        super().on_error(queue, exception, traceback)
        if self.queued.hget() is None:  # not retried: the task has finished
            self._finished()

    def _finished(self) -> None:
        found, backend = self._task_and_backend()
        if backend is not None:
            _send(task_finished, backend, backend.get_result(self.ident))

    def _task_and_backend(self) -> tuple[Any, LimpydJobsBackend | None]:
        """The Task this job names, found among the worker's, and its backend (None: not one of ours)."""
        found = self.__dict__.get("_task")
        if found is None:
            found = self.__dict__["_task"] = discovery.find(self.task_name.hget())
        backend = found.get_backend() if found is not None else None
        return found, backend if isinstance(backend, LimpydJobsBackend) else None


def _send(signal: Any, backend: BaseTaskBackend, result: TaskResult) -> None:
    """Send a signal of Django's task framework; a failing receiver is logged, the task goes on."""
    for receiver, response in signal.send_robust(type(backend), task_result=result):
        if isinstance(response, Exception):
            logger.error("receiver %r of a task signal failed: %r", receiver, response, exc_info=response)


class LimpydJobsBackend(BaseTaskBackend):
    """Tasks stored in Redis as ``DjangoTaskJob`` jobs, run by ``manage.py limpyd_jobs_worker``,
    their results read from any process."""

    task_class = LimpydJobsTask
    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        self.engine = LimpydBackend(job_model=DjangoTaskJob)
        self.task_options = self._read_options(self.options)

    # --- options

    def _read_options(self, options: Any) -> dict[str, dict[str, Any]]:
        """Check ``OPTIONS``; return the options of limpyd tasks by task path ("": every task's)."""
        where = f"TASKS[{self.alias!r}]['OPTIONS']"
        if not isinstance(options, Mapping):
            raise InvalidTaskBackend(f"{where} is a dict, not {options!r}")
        unknown = set(options) - set(TASK_OPTIONS) - set(BACKEND_OPTIONS)
        if unknown:
            raise InvalidTaskBackend(f"{where} has unknown keys {sorted(unknown)}; its keys are "
                                     f"{', '.join(TASK_OPTIONS + BACKEND_OPTIONS)}")
        on_commit = options.get("enqueue_on_commit", False)
        if not isinstance(on_commit, (bool, str)):
            raise InvalidTaskBackend(f"{where}['enqueue_on_commit'] is a bool or a database alias, "
                                     f"not {on_commit!r}")
        per_task = options.get("tasks", {})
        if not (isinstance(per_task, Mapping) and all(isinstance(one, Mapping) for one in per_task.values())):
            raise InvalidTaskBackend(f"{where}['tasks'] maps task paths to dicts of options: {per_task!r}")
        found = {"": {key: options[key] for key in TASK_OPTIONS if key in options}}
        for path, values in per_task.items():
            wrong = set(values) - set(TASK_OPTIONS)
            if wrong:
                raise InvalidTaskBackend(f"{where}['tasks'][{path!r}] has unknown keys {sorted(wrong)}; its "
                                         f"keys are {', '.join(TASK_OPTIONS)}")
            found[path] = dict(values)
        for path, values in found.items():
            if "never_retry" in values:
                values["never_retry"] = tuple(import_string(error) if isinstance(error, str) else error
                                              for error in values["never_retry"])
            try:  # the options are those of a limpyd task: checked as such
                LimpydTask(func=_options_check, **values)
            except (ours.InvalidTask, TypeError) as exc:
                raise InvalidTaskBackend(f"{where}{f'[tasks][{path!r}]' if path else ''}: {exc}") from None
        return found

    def limpyd_task(self, task: Task) -> LimpydTask:
        """The limpyd task that enqueues runs of ``task``: its options over the backend's."""
        options = {**self.task_options[""], **self.task_options.get(task.module_path, {})}
        options.update({name: getattr(task, name) for name in TASK_OPTIONS
                        if getattr(task, name, None) is not None})
        return LimpydTask(func=task.func, priority=task.priority, queue_name=task.queue_name,
                          run_after=task.run_after, **options)

    def on_commit_alias(self, task: Task) -> str | None:
        """The database whose commit enqueues a run of ``task`` (None: enqueue at once)."""
        value = getattr(task, "enqueue_on_commit", None)
        if value is None:
            value = self.options.get("enqueue_on_commit", False)
        if value is True:
            return DEFAULT_DB_ALIAS
        return value or None

    def validate_task(self, task: Task) -> None:
        """Django's checks (a ``run_after`` may also be a timedelta), then limpyd tasks' own."""
        if isinstance(task.run_after, timedelta):
            if task.run_after < timedelta(0):
                raise InvalidTask(f"run_after is a timedelta of at least 0, not {task.run_after!r}")
            super().validate_task(dataclasses.replace(task, run_after=None))
        else:
            super().validate_task(task)
        try:
            self.limpyd_task(task)
        except ours.InvalidTask as exc:
            raise InvalidTask(str(exc)) from None
        discovery.created(task)

    # --- writing

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """A run of ``task``, in one round trip, or at the commit (``enqueue_on_commit``)."""
        self.validate_task(task)
        limpyd_task = self.limpyd_task(task)
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        codec.encode({"args": args, "kwargs": kwargs}, f"the arguments of {task.module_path}")
        alias = self.on_commit_alias(task)
        if alias is None:
            return self._enqueue_now(task, limpyd_task, args, kwargs)
        pending = self._result(task, LimpydTaskResult(
            task=None, id=f"{PENDING_PREFIX}{uuid.uuid4().hex}", status=LimpydStatus.READY, enqueued_at=None,
            started_at=None, finished_at=None, last_attempted_at=None, args=args, kwargs=kwargs, errors=[],
            worker_ids=[], attempts=0, task_name=task.module_path))
        transaction.on_commit(lambda: self._enqueue_at_commit(pending, limpyd_task, args, kwargs),
                              using=alias)
        return pending

    def _enqueue_now(self, task: Task, limpyd_task: LimpydTask, args: list, kwargs: dict) -> TaskResult:
        result = self._result(task, self.engine.enqueue(limpyd_task, tuple(args), kwargs))
        _send(task_enqueued, self, result)
        return result

    def _enqueue_at_commit(self, pending: TaskResult, limpyd_task: LimpydTask, args: list,
                           kwargs: dict) -> None:
        """Enqueue at the commit; the TaskResult given before takes the id and time of the job."""
        done = self._enqueue_now(pending.task, limpyd_task, args, kwargs)
        for name in ("id", "enqueued_at"):
            object.__setattr__(pending, name, getattr(done, name))

    # --- reading

    def get_result(self, result_id: str) -> TaskResult:
        """The result of a run as stored now, from any process; TaskResultDoesNotExist if unknown."""
        if isinstance(result_id, str) and result_id.startswith(PENDING_PREFIX):
            raise TaskResultDoesNotExist(f"{result_id!r} is enqueued when its transaction commits: it does "
                                         "not exist yet (or the transaction rolled back)")
        if not (isinstance(result_id, str) and result_id.startswith(DjangoTaskJob.get_model_repr() + ":")):
            raise TaskResultDoesNotExist(f"{result_id!r} is not the id of a result of {type(self).__name__}")
        try:
            found = self.engine.get_result(result_id)
        except ours.TaskResultDoesNotExist as exc:
            raise TaskResultDoesNotExist(str(exc)) from None
        task = discovery.find(found.task_name, runnable=False)
        if task is None:
            raise TaskResultDoesNotExist(f"{result_id!r} is a result of {found.task_name!r}, which is not a "
                                         "task of this project's apps (their tasks modules)")
        return self._result(task, found)

    def _result(self, task: Task, found: LimpydTaskResult) -> TaskResult:
        """Django's TaskResult of what limpyd tasks read."""
        result = TaskResult(
            task=task, id=found.id, status=TaskResultStatus(str(found.status)), enqueued_at=found.enqueued_at,
            started_at=found.started_at, finished_at=found.finished_at,
            last_attempted_at=found.last_attempted_at, args=found.args, kwargs=found.kwargs,
            backend=self.alias, worker_ids=list(found.worker_ids),
            errors=[TaskError(exception_class_path=error.exception_class_path, traceback=error.traceback)
                    for error in found.errors])
        object.__setattr__(result, "_return_value", found._return_value)
        return result

    # --- checks

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        """Redis answers; every queue of QUEUES is served by ``manage.py limpyd_jobs_worker``."""
        messages = list(super().check(**kwargs))
        try:
            DjangoTaskJob.get_connection().ping()
        except RedisError as exc:
            messages.append(checks.Error(f"TASKS[{self.alias!r}]: Redis does not answer: {exc}",
                                         hint="settings.LIMPYD_JOBS['database'] says where it is",
                                         id="limpyd_jobs.E101"))
        worker = getattr(settings, "LIMPYD_JOBS", {}) or {}
        served = worker.get("queues") if isinstance(worker, Mapping) else None
        if isinstance(served, str):
            served = served.split(",")
        if served:
            for name in sorted(self.queues - set(served)):
                messages.append(checks.Warning(
                    f"TASKS[{self.alias!r}]: queue {name!r} is in QUEUES but not in LIMPYD_JOBS['queues']: "
                    "manage.py limpyd_jobs_worker does not run its tasks", id="limpyd_jobs.W102"))
        for name in sorted(self.queues):
            if not name or "," in name:
                messages.append(checks.Error(f"TASKS[{self.alias!r}]: queue {name!r} is not a queue name "
                                             "(a non-empty str without ',')", id="limpyd_jobs.E103"))
        return messages


def _options_check() -> None:
    """The function of the limpyd task that checks options (never run)."""



def queues_of_backends() -> list[str]:
    """The QUEUES of this project's LimpydJobsBackend backends, in order (what the worker serves)."""
    names: list[str] = []
    for backend in task_backends.all():
        if isinstance(backend, LimpydJobsBackend):
            names += sorted(set(backend.queues) - set(names))
    return names
