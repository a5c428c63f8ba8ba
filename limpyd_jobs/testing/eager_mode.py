"""Eager mode: tasks run at once, in the process that enqueues them, instead of by a worker.

The task layer (``limpyd_jobs.tasks``) reads ``eager_enabled()`` when a task is enqueued: when it
is true the task runs there and then, and its result is returned finished (an exception it
raises is raised to the caller when ``eager_propagates()``). Turned on by ``with eager():``, the
``limpyd_jobs_eager`` fixture, or ``LIMPYD_JOBS_EAGER=1`` in the environment. Jobs added with
``add_job`` are never run eagerly: use ``run_jobs`` for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: The environment variable that turns eager mode on for a whole process ("1", "true", "yes").
ENVIRONMENT_VARIABLE = "LIMPYD_JOBS_EAGER"

_state = {"enabled": None, "propagate": True}


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
