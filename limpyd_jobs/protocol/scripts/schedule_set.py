"""Wrapper of schedule_set.lua: set a schedule and place its next run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("schedule_set")


def call(database: Any, *, schedule_model: str, timeline_model: str, timeline_pk: str, job_id: str,
         next_run: float | str, event: str, now_int: int, fields: Sequence[Any]) -> int:
    """The schedule's new version. ``fields``: by threes, name, value, indexed (0/1)."""
    return SCRIPT(database, args=[schedule_model, timeline_model, timeline_pk, job_id, next_run, event,
                                  now_int, *fields])
