"""``LimpydBackend``: tasks stored as ``TaskJob`` jobs, run by the workers.

``enqueue`` is one round trip (``add_job``, the task's fields with it); ``get_result`` reads a
job, its history and its errors in two pipelines at most; ``wait`` asks for the end's notice
and blocks on the token the end then pushes (see ``notice_end`` in the protocol's lib/ends.lua).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import time
from datetime import datetime, timedelta
from typing import Any

from .. import exceptions, orm, shards
from ..exceptions import InvalidIdent
from ..history import decoded_events
from ..models import Error, Job
from ..protocol import KEYS, STATUSES
from ..protocol.scripts import watch_end
from ..script_fields import fields_of_new_job
from ..utils import str_to_datetime
from . import codec, eager, registry
from .base import Task, TaskError, TaskResult, TaskResultStatus
from .exceptions import InvalidTask, TaskResultDoesNotExist
from .models import TaskJob

#: The longest a ``wait`` blocks before it reads the status again: the end of a task wakes it up,
#: this only bounds the wait for an end that pushes no token (a job canceled, or failed by recovery).
WAIT_SLICE = 2.0


class LimpydBackend:
    """Enqueue tasks as ``job_model`` jobs and read their results (``error_model``: their errors)."""

    def __init__(self, job_model: type[TaskJob] = TaskJob, error_model: type[Error] = Error) -> None:
        self.job_model = job_model
        self.error_model = error_model
        self._fields_cache: dict[tuple[Any, ...], tuple[list[Any], int | None, dict[str, Any]]] = {}

    # --- writing

    def enqueue(self, task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskResult:
        """Add a job for a run of ``task``, in one round trip; nothing is written if the arguments
        are not JSON (TypeError, ValueError); in eager mode, run it here and now instead."""
        if eager.eager_enabled():
            return eager.run_now(task, args, kwargs)
        if task.func.__module__ == "__main__":
            raise InvalidTask(f"{task.module_path} is defined in __main__ (the script being run): no worker "
                              "can run it; define it in a module the workers import (--job-modules)")
        arguments, data = codec.encode({"args": list(args), "kwargs": kwargs},
                                       f"the arguments of {task.module_path}")
        run_after = task.run_after
        delayed_for = run_after if isinstance(run_after, timedelta) else None
        delayed_until = run_after if isinstance(run_after, datetime) else None
        model = self.job_model
        enqueued_at = model.clock.now()
        fields = self._fields(task)
        prepared = None
        if fields[1] is not None:  # the script writes them all: the arguments go in their place
            prepared = list(fields[0])
            prepared[fields[1]] = arguments
        job = model._add_job(self._identifier(task, arguments), task.queue_name, task.priority, None, False,
                             delayed_until, delayed_for, {**fields[2], "arguments": arguments}, prepared)
        result_id = f"{job.ident}@{job.shard}" if shards.sharded() else job.ident  # an ident is per shard
        return TaskResult(task=task, id=result_id, status=TaskResultStatus.READY, enqueued_at=enqueued_at,
                          started_at=None, finished_at=None, last_attempted_at=None, args=data["args"],
                          kwargs=data["kwargs"], errors=[], worker_ids=[], attempts=0,
                          task_name=task.module_path, backend=task.backend)

    def _fields(self, task: Task) -> tuple[list[Any], int | None, dict[str, Any]]:
        """The fields of a run of ``task`` but its arguments (made once per task): as add_job.lua
        takes them with the index of the arguments' value (None if the script cannot write them
        all), and as a dict."""
        key = (task.module_path, task.result_ttl, task.timeout)
        known = self._fields_cache.get(key)
        if known is None:
            given: dict[str, Any] = {"task_name": task.module_path, "arguments": "",
                                     "finished_ttl": _number(task.result_ttl)}
            if task.timeout:
                given["timeout"] = task.timeout
            script_fields, by_limpyd = fields_of_new_job(self.job_model, given)
            position = None if by_limpyd is not None else script_fields.index("arguments") + 1
            del given["arguments"]
            known = self._fields_cache[key] = (script_fields, position, given)
        return known

    @staticmethod
    def _identifier(task: Task, arguments: str) -> str:
        """The caller's identifier; for a unique task, one made of its name and arguments; else a new one."""
        if task.identifier is not None:
            return task.identifier
        if task.unique:
            canonical = json.dumps(json.loads(arguments), sort_keys=True, ensure_ascii=False,
                                   separators=(",", ":"))
            digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
            return f"task:{task.module_path}:{digest}"
        return os.urandom(8).hex()  # 64 random bits: no two queued runs share one

    # --- reading

    def get_result(self, result_id: str) -> TaskResult:
        """The result of this id as stored now; TaskResultDoesNotExist if there is none."""
        kept = eager.result_of(result_id)
        if kept is not None:
            return kept
        with _shard_of(result_id):
            return self._read(result_id)

    def _read(self, result_id: str) -> TaskResult:
        model, pk = self._job_of(result_id)
        connection = model.get_connection()
        errors = orm.model_name(self.error_model)
        # the hash first: events written between the two reads are in the list, not told twice
        with connection.pipeline(transaction=False) as pipe:
            pipe.hgetall(KEYS.hash(model=orm.model_name(model), pk=pk))
            pipe.lrange(KEYS.field(model=orm.model_name(model), pk=pk, field="history"), 0, -1)
            pipe.sinter(KEYS.index(model=errors, field="job_model_repr", value=model.get_model_repr()),
                        KEYS.index(model=errors, field="job_pk", value=pk))
            values, history, error_pks = pipe.execute()
        if not values or "task_name" not in values:
            raise TaskResultDoesNotExist(f"no task result has the id {result_id!r} (or it was deleted)")
        return self._result(result_id, values, decoded_events(history, None, values),
                            self._errors(connection, error_pks))

    def _job_of(self, result_id: Any) -> tuple[type[Job], str]:
        """The job model and pk an id names (a task job model of this process, nothing imported)."""
        model_repr, _, pk = shards.split_qualified(str(result_id))[0].rpartition(":")
        try:
            model = Job.model_for_repr(model_repr) if isinstance(result_id, str) and pk else None
        except InvalidIdent:
            model = None
        if model is None or not issubclass(model, TaskJob):
            raise TaskResultDoesNotExist(f"{result_id!r} is not the id of a task result")
        return model, pk

    def _errors(self, connection: Any, pks: set[str]) -> list[TaskError]:
        ordered = sorted(pks, key=lambda pk: int(pk) if pk.isdigit() else 0)
        if not ordered:
            return []
        with connection.pipeline(transaction=False) as pipe:
            for pk in ordered:
                pipe.hmget(KEYS.hash(model=orm.model_name(self.error_model), pk=pk), "type", "traceback")
            found = pipe.execute()
        return [TaskError(exception_class_path(name or "", trace or ""), trace or "")
                for name, trace in found if name is not None]

    def _result(self, result_id: str, values: dict[str, str], history: list[dict[str, Any]],
                errors: list[TaskError]) -> TaskResult:
        status = task_status(values)
        started = [event for event in history if event.get("event") == "started"]
        try:
            arguments = json.loads(values.get("arguments") or "")
        except ValueError:
            arguments = {}
        return_value = None
        if status == TaskResultStatus.SUCCESSFUL and values.get("result") is not None:
            return_value = json.loads(values["result"])
        try:
            attempts = int(values.get("tries") or 0)
        except ValueError:
            attempts = len(started)
        return TaskResult(
            task=registry.find(values["task_name"]), id=result_id, status=status,
            enqueued_at=str_to_datetime(values.get("added")),
            started_at=(started[0]["at"] if started else None)
            or str_to_datetime(values.get("start")),
            finished_at=str_to_datetime(values.get("end")) if status in _FINISHED else None,
            last_attempted_at=str_to_datetime(values.get("start")),
            args=arguments.get("args", []) if isinstance(arguments, dict) else [],
            kwargs=arguments.get("kwargs", {}) if isinstance(arguments, dict) else {},
            errors=errors, worker_ids=[str(event.get("worker", "")) for event in started], attempts=attempts,
            task_name=values["task_name"], _return_value=return_value)

    # --- waiting

    def wait(self, result_id: str, timeout: float | None = None) -> TaskResult:
        """The result once the task ended (FAILED or SUCCESSFUL), woken by its end; TimeoutError
        if it did not end within ``timeout`` seconds."""
        kept = eager.result_of(result_id)
        if kept is not None:
            return kept
        with _shard_of(result_id):
            return self._wait(result_id, timeout)

    def _wait(self, result_id: str, timeout: float | None) -> TaskResult:
        model, pk = self._job_of(result_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        key = KEYS.field(model=orm.model_name(model), pk=pk, field="ended")
        connection = model.get_connection()
        watch_end.call(model.database, job_model=orm.model_name(model), pk=pk)  # its end pushes a token now
        woken = False
        while True:
            result = self.get_result(result_id)
            if result.is_finished:
                return result
            if woken:  # a token of an earlier end (the job was run again since): not this end's
                connection.delete(key)
            left = WAIT_SLICE if deadline is None else min(deadline - time.monotonic(), WAIT_SLICE)
            if left <= 0:
                raise TimeoutError(f"task result {result_id} did not end within {timeout}s")
            # the token stays (moved from the list's end to its start) for every other waiter
            woken = connection.blmove(key, key, max(left, 0.001), "RIGHT", "LEFT") is not None


def _shard_of(result_id: Any) -> contextlib.AbstractContextManager[Any]:
    """Work in the shard a result id names (the current one if it names none)."""
    index = shards.split_qualified(result_id)[1] if isinstance(result_id, str) and shards.sharded() else None
    if index is None:
        return contextlib.nullcontext()
    if index >= shards.count():
        raise TaskResultDoesNotExist(f"{result_id!r} names shard {index}, of {shards.count()}")
    return shards.using(index)


_FINISHED = (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED)


def task_status(values: dict[str, str]) -> TaskResultStatus:
    """A task job's status in Django's words: a failed job to be retried is READY, a canceled one FAILED."""
    status = values.get("status")
    if status == STATUSES.SUCCESS:
        return TaskResultStatus.SUCCESSFUL
    if status == STATUSES.RUNNING:
        return TaskResultStatus.RUNNING
    if status == STATUSES.CANCELED or (status == STATUSES.ERROR and not values.get("queued")):
        return TaskResultStatus.FAILED
    return TaskResultStatus.READY


_RAISED = re.compile(r"^([A-Za-z_][\w.]*)(?::|$)")


def exception_class_path(name: str, trace: str) -> str:
    """``module.Class`` of an exception, from an Error's class name and traceback (whose last
    ``Class: message`` line names its module, but for builtins); without a traceback, a builtin
    or one of limpyd_jobs.exceptions (what a worker records of a timeout, a dead process...)."""
    for line in reversed(trace.splitlines()):
        found = _RAISED.match(line)
        if found and found.group(1).rpartition(".")[2] == name:
            path = found.group(1)
            return path if "." in path else f"builtins.{path}"
    for module in (builtins, exceptions):  # no traceback: the worker's own (a timeout...) or a builtin
        if isinstance(getattr(module, name, None), type):
            return f"{module.__name__}.{name}"
    return name


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


_DEFAULT: LimpydBackend | None = None


def default_backend() -> LimpydBackend:
    """The backend of tasks that name none."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = LimpydBackend()
    return _DEFAULT
