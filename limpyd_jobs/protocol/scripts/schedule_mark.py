"""Wrapper of schedule_mark.lua: record a run's event and place the next run, for its version."""

from __future__ import annotations

from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("schedule_mark")


def call(database: Any, *, schedule_model: str, timeline_model: str, timeline_pk: str, job_id: str,
         version: str, event: str, now_int: int, next_run: float | str) -> bool:
    """False when the schedule is gone or was set anew since the run was dispatched."""
    return bool(SCRIPT(database, args=[schedule_model, timeline_model, timeline_pk, job_id, version, event,
                                       now_int, next_run]))
