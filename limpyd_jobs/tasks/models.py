"""``TaskJob``: the job of one enqueued run of a task, with its name, arguments and result."""

from __future__ import annotations

import inspect
import json
from typing import Any

from limpyd import fields

from .. import orm
from ..models import Job, Queue
from ..protocol import KEYS
from . import codec, registry
from .exceptions import InvalidTaskData, UnknownTask

#: Seconds the ``ended`` list of a task keeps its token (lib/ends.lua's END_NOTICE_TTL).
END_NOTICE_TTL = 60


class TaskJob(Job):
    """A job whose work is a registered task: priorities, delays, retries, recovery, history and
    retention are a job's. Its fields come with the take: running it costs no round trip."""

    #: ``module.function`` of the task, looked up in this process's registry (never imported).
    task_name = fields.InstanceHashField()
    #: ``{"args": [...], "kwargs": {...}}``, as JSON.
    arguments = fields.InstanceHashField()
    #: The return value as JSON, written with the successful end, in the same script.
    result = fields.InstanceHashField()
    #: "1": someone waits (``wait()`` sets it): a success pushes a token to the job's ``ended`` list.
    end_notice = fields.InstanceHashField()
    #: Seconds the job and its result are kept once finished (the worker's purge deletes it then).
    finished_ttl = fields.InstanceHashField()

    queue_name = "default"
    runs_itself = True
    never_retry = (UnknownTask, InvalidTaskData)

    def run(self, queue: Queue) -> Any:
        """Run the task this job names, if this process registered it, with the job's arguments."""
        name = self.task_name.hget()
        found = registry.find(name)
        if found is None:
            raise UnknownTask(f"task {name!r} is not registered in this worker: only the tasks of the "
                              "modules it imported at start-up (--job-modules) run, never one imported "
                              "from Redis")
        self.__dict__["_task"] = found
        args, kwargs = self.read_arguments()
        value = found.call(*args, **kwargs)
        if inspect.isawaitable(value):  # on a worker's event loop: the result is kept once awaited
            return self._keep_result(value, name)
        self.__dict__["_result"] = codec.dumps(value, f"the return value of {name}")
        return value

    async def _keep_result(self, awaitable: Any, name: str) -> Any:
        value = await awaitable
        self.__dict__["_result"] = codec.dumps(value, f"the return value of {name}")
        return value

    def runs_async(self) -> bool:
        """Whether its task is ``async def`` (a worker with concurrency runs it on its event loop)."""
        found = registry.find(self.task_name.hget())
        return found is not None and inspect.iscoroutinefunction(found.func)

    def read_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        """The arguments as stored; InvalidTaskData if they are not what enqueue writes."""
        try:
            data = json.loads(self.arguments.hget() or "")
        except ValueError:
            data = None
        if not (isinstance(data, dict) and isinstance(data.get("args"), list)
                and isinstance(data.get("kwargs"), dict)):
            raise InvalidTaskData(f"the arguments of {self.ident} are not those enqueue writes")
        return data["args"], data["kwargs"]

    def fields_at_end(self) -> dict[str, str]:
        """The result, written with the successful end."""
        result = self.__dict__.get("_result")
        return {"result": result} if result is not None else {}

    def on_error(self, queue: Queue, exception: BaseException, traceback: str | None) -> None:
        """A failure not retried wakes whoever waits for the task, once its Error is saved (the
        worker saves it after the end: a notice from the end script would come before it)."""
        self.drop_snapshot()  # a worker that ran it in a child still holds what its take read
        if self.queued.hget() is None:
            key = KEYS.field(model=orm.model_name(self), pk=orm.pk_of(self), field="ended")
            with self.get_connection().pipeline() as pipe:
                pipe.rpush(key, "1").expire(key, END_NOTICE_TTL).execute()

    def retry_settings(self) -> Any:
        """The task's retry options (this class's when the task is not known here)."""
        found = self.__dict__.get("_task") or registry.find(self.task_name.hget())
        return found.retry_settings if found is not None else type(self)
