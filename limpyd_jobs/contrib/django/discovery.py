"""The Django tasks of this process: ``Task`` objects found in the modules it imported.

A task job names its task by ``module.function``; that name, read from Redis, is looked up here
and never imported. A worker runs the tasks it found at start-up (the ``tasks`` module of every
installed app, and its ``--job-modules``); results name any task this process created.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from .compat import Task

#: The module of an app that defines its tasks (as Django's docs name it).
TASKS_MODULE = "tasks"

_FOUND: dict[str, Any] = {}
_CREATED: dict[str, Any] = {}
_APPS_DONE = False


def register(task: Any) -> None:
    """Know ``task`` under its ``module.function`` name: one found in a module the worker imported."""
    _FOUND.setdefault(task.module_path, task)


def created(task: Any) -> None:
    """Know ``task`` as one this process created (what names a result, not what a worker runs)."""
    _CREATED.setdefault(task.module_path, task)


def find(name: str | None, runnable: bool = True) -> Any:
    """The Task found under ``name`` (discovering the apps' tasks first), or None; with
    ``runnable=False``, also one this process merely created."""
    if not name:
        return None
    if name not in _FOUND:
        discover_apps()
    return _FOUND.get(name) or (None if runnable else _CREATED.get(name))


def scan(module: ModuleType) -> list[Any]:
    """Register the Task objects that are attributes of ``module``; return them."""
    found = [value for value in vars(module).values() if isinstance(value, Task)]
    for task in found:
        register(task)
    return found


def import_and_scan(names: Iterable[str]) -> list[Any]:
    """Import these modules (ImportError as raised) and register their Task objects."""
    return [task for name in names for task in scan(importlib.import_module(name))]


def discover_apps() -> list[Any]:
    """Import the ``tasks`` module of every installed app that has one (once), register its Tasks."""
    global _APPS_DONE
    if _APPS_DONE:
        return []
    _APPS_DONE = True
    names = [f"{config.name}.{TASKS_MODULE}" for config in apps.get_app_configs()
             if module_has_submodule(config.module, TASKS_MODULE)]
    return import_and_scan(names)
