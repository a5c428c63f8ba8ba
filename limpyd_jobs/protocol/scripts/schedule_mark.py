"""Wrapper of schedule_mark.lua: record a run's event and place the next run, for its version."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("schedule_mark")


class Marked(NamedTuple):
    marked: bool  # False when the schedule is gone or was set anew since the run was dispatched
    placed: float | None  # then: the due time of the run the newer schedule deferred (None: none)


def call(database: Any, *, schedule_model: str, timeline_model: str, timeline_pk: str, job_id: str,
         version: str, event: str, now_int: int, next_run: float | str, reason: str = "") -> Marked:
    marked, placed = SCRIPT(database, args=[schedule_model, timeline_model, timeline_pk, job_id, version,
                                            event, now_int, next_run, reason])
    return Marked(bool(marked), float(placed) if placed else None)
