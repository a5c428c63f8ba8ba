"""Wrapper of requeue_delayed.lua: move due delayed jobs of some queues to their waiting lists."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("requeue_delayed")


class DelayedMoved(NamedTuple):
    moved: int
    next_due: float | None  # when the first job left in these delayed sets is due (None: none left)
    failures: list[tuple[str, str]]  # (ident, reason) of idents that name no job


def call(database: Any, *, queue_model: str, now_score: float, queues: dict[str, str]) -> DelayedMoved:
    """``queues``: queue pk -> queue name."""
    pairs = (part for pair in queues.items() for part in pair)
    reply = SCRIPT(database, args=[queue_model, now_score, *pairs])
    rest = reply[2:]
    failures = list(zip(rest[::2], rest[1::2], strict=True))
    return DelayedMoved(reply[0], float(reply[1]) if reply[1] else None, failures)
