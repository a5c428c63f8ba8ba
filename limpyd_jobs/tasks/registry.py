"""The tasks of this process, by name: the only functions a task job can run.

A task's name, read from Redis, is looked up here and never imported: a worker runs the tasks
registered (by ``@task``) in the modules it imported at start-up, and fails the others.
"""

from __future__ import annotations

from typing import Any

_TASKS: dict[str, Any] = {}


def register(task: Any) -> None:
    """Register a task under its name (a module imported again replaces it)."""
    _TASKS[task.module_path] = task


def find(name: str | None) -> Any:
    """The task registered under ``name``, or None."""
    return _TASKS.get(name) if name else None
