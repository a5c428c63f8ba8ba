"""Wrapper of requeue_delayed.lua: move due delayed jobs of some queues to their waiting lists."""

from __future__ import annotations

from typing import Any, NamedTuple

from ... import orm
from ..loader import LuaScript

SCRIPT = LuaScript("requeue_delayed")


class DelayedMoved(NamedTuple):
    moved: int
    next_due: float | None  # when the first job left is due, on the caller's clock (None: none left)
    now: float  # the time the due jobs were moved at (Redis's, unless now_score was given)
    failures: list[tuple[str, str]]  # (ident, reason) of idents that name no job


def call(database: Any, *, queue_model: str, now_score: float | str, queues: dict[str, str]) -> DelayedMoved:
    """``queues``: queue pk -> queue name. ``now_score`` '': Redis's clock decides what is due."""
    pairs = (part for pair in queues.items() for part in pair)
    reply = SCRIPT(database, args=[queue_model, now_score, *pairs])
    rest, now = reply[3:], float(reply[2])
    failures = list(zip(rest[::2], rest[1::2], strict=True))
    next_due = float(reply[1]) if reply[1] else None
    if now_score == "":
        orm.note_server_time(database, now)
        next_due = orm.local_time(database, next_due)
    return DelayedMoved(reply[0], next_due, now, failures)
