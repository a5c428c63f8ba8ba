"""Helpers to test code that adds and runs jobs: a private redis-server (``server``), running
what is queued in this process (``run_jobs``, ``burst``), eager tasks (``eager``), and a pytest
plugin (``pytest_plugin``) with fixtures built on them. Also used by the project's own tests,
demo and benchmarks.
"""

from __future__ import annotations

from typing import Any

_HOMES = {"RedisServer": "server", "Ran": "runs", "run_jobs": "runs", "burst": "runs", "JobFailed": "runs",
          "eager": "eager_mode", "eager_enabled": "eager_mode", "eager_propagates": "eager_mode"}

__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    """Import each helper when first asked for: the pytest plugin loads this package in every test
    run of a project that installed limpyd-jobs, and should load nothing it does not use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
