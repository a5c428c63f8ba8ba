"""Wrapper of get_queue.lua: find or create a queue."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("get_queue")


class QueueFound(NamedTuple):
    queue_pk: str
    created: bool


def call(database: Any, *, queue_model: str, name: str, priority: int) -> QueueFound:
    queue_pk, created = SCRIPT(database, args=[queue_model, name, priority])
    return QueueFound(queue_pk, bool(created))
