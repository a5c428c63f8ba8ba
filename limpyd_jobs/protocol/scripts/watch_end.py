"""Wrapper of watch_end.lua: ask for a job's end notice before waiting for it."""

from __future__ import annotations

from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("watch_end")


def call(database: Any, *, job_model: str, pk: str) -> str | None:
    """The job's status (None: no such job); its successful end now pushes a notice."""
    return SCRIPT(database, args=[job_model, pk])
