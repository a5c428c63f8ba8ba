"""Wrapper of requeue_failed.lua: put every failed job of a queue name back, tries reset."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("requeue_failed")


class Requeued(NamedTuple):
    requeued: int
    idents: list[str]  # the jobs put back, in the order they were


def call(database: Any, *, queue_model: str, name: str, now_score: float, prepend: bool) -> Requeued:
    reply = SCRIPT(database, args=[queue_model, name, now_score, int(prepend)])
    return Requeued(reply[0], list(reply[1:]))
