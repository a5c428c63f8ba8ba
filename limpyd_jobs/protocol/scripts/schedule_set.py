"""Wrapper of schedule_set.lua: set a schedule and place its next run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("schedule_set")


class ScheduleSet(NamedTuple):
    version: int
    deferred: bool  # the next run waits for the end of the running one


def call(database: Any, *, schedule_model: str, timeline_model: str, timeline_pk: str, job_model: str,
         model_repr: str, job_id: str, next_run: float | str, event: str, now_int: int, reason: str,
         fields: Sequence[Any]) -> ScheduleSet:
    """``fields``: by threes, name, value, indexed (0/1)."""
    version, deferred = SCRIPT(database, args=[schedule_model, timeline_model, timeline_pk, job_model,
                                               model_repr, job_id, next_run, event, now_int, reason, *fields])
    return ScheduleSet(int(version), bool(deferred))
