"""Eager mode for tests: tasks run when enqueued (``limpyd_jobs.tasks.eager``, re-exported here)."""

from __future__ import annotations

from ..tasks.eager import ENVIRONMENT_VARIABLE, eager, eager_enabled, eager_propagates

__all__ = ["ENVIRONMENT_VARIABLE", "eager", "eager_enabled", "eager_propagates"]
