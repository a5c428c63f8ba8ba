"""Wrapper of beat.lua: a worker's heartbeat in the registry."""

from __future__ import annotations

from typing import Any, NamedTuple

from ... import orm
from ..loader import LuaScript

SCRIPT = LuaScript("beat")


class Beat(NamedTuple):
    written: int  # 1 if the worker's hash was written whole (first beat, or removed by a recovery)
    now: float  # the time of the beat (Redis's, unless now_score was given)


def call(database: Any, *, worker: str, now_score: float | str, fields: dict[str, Any]) -> Beat:
    """``now_score`` '': the beat is at Redis's time (and the database notes its offset)."""
    pairs = (part for pair in fields.items() for part in pair)
    written, now = SCRIPT(database, args=[worker, now_score, *pairs])
    if now_score == "":
        orm.note_server_time(database, float(now))
    return Beat(written, float(now))
