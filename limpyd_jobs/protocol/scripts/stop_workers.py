"""Wrapper of stop_workers.lua: ask workers to stop after their current job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript
from ..vocabulary import ControlOrder

SCRIPT = LuaScript("stop_workers")

#: What a worker's control key (``KEYS.worker_control``) says when it must stop after its current job.
STOP = ControlOrder.STOP.value


class Asked(NamedTuple):
    asked: int
    workers: list[str]  # the registered workers asked


def call(database: Any, *, order: str, ttl_ms: int, workers: Sequence[str]) -> Asked:
    reply = SCRIPT(database, args=[order, ttl_ms, *workers])
    return Asked(reply[0], list(reply[1:]))
