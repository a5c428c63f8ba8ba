"""Eager mode: tasks run when enqueued, in the caller's process, nothing stored (for tests).

Turned on by ``with eager():``, the ``limpyd_jobs_eager`` fixture or ``LIMPYD_JOBS_EAGER=1``.
Arguments and return values go through the same JSON check as with a worker.
"""

from __future__ import annotations

import os
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from . import codec
from .base import Task, TaskError, TaskResult, TaskResultStatus

#: The environment variable that turns eager mode on for a whole process ("1", "true", "yes", "on").
ENVIRONMENT_VARIABLE = "LIMPYD_JOBS_EAGER"
#: The eager results ``get_result`` still finds (the latest ones: a long run keeps no more).
KEPT = 10_000
#: What an eager result's id starts with.
PREFIX = "eager:"

_state: dict[str, Any] = {"enabled": None, "propagate": True}
_results: OrderedDict[str, TaskResult] = OrderedDict()


def eager_enabled() -> bool:
    """Whether tasks run when enqueued: set by ``eager()``, else by ``LIMPYD_JOBS_EAGER``."""
    if _state["enabled"] is not None:
        return bool(_state["enabled"])
    return os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def eager_propagates() -> bool:
    """Whether an eager task's exception is raised to the code that enqueued it (the default)."""
    return bool(_state["propagate"])


@contextmanager
def eager(enabled: bool = True, propagate: bool = True) -> Iterator[None]:
    """Within the block, tasks run when enqueued (``enabled=False``: never, whatever the
    environment says); ``propagate``: raise their exceptions to the caller."""
    previous = dict(_state)
    _state.update(enabled=enabled, propagate=propagate)
    try:
        yield
    finally:
        _state.update(previous)


def run_now(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> TaskResult:
    """Run ``task`` here, as a worker would, and return its finished result."""
    _, data = codec.encode({"args": list(args), "kwargs": kwargs}, f"the arguments of {task.module_path}")
    started = datetime.now(timezone.utc)
    status, value, errors = TaskResultStatus.SUCCESSFUL, None, []
    try:
        value = codec.encode(task.call(*data["args"], **data["kwargs"]),
                             f"the return value of {task.module_path}")[1]
    except Exception as exc:
        if eager_propagates():
            raise
        status = TaskResultStatus.FAILED
        errors = [TaskError(f"{type(exc).__module__}.{type(exc).__qualname__}", traceback.format_exc())]
    result = TaskResult(task=task, id=PREFIX + uuid.uuid4().hex, status=status, enqueued_at=started,
                        started_at=started, finished_at=datetime.now(timezone.utc), last_attempted_at=started,
                        args=data["args"], kwargs=data["kwargs"], errors=errors, worker_ids=[], attempts=1,
                        task_name=task.module_path, backend=task.backend, _return_value=value)
    _results[result.id] = result
    while len(_results) > KEPT:
        _results.popitem(last=False)
    return result


def result_of(result_id: str) -> TaskResult | None:
    """An eager result still kept, by its id (None if the id is not an eager one or was dropped)."""
    return _results.get(result_id) if isinstance(result_id, str) and result_id.startswith(PREFIX) else None
