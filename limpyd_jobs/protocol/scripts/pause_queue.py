"""Wrapper of pause_queue.lua: pause or resume a queue name (the paused set)."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("pause_queue")


class Paused(NamedTuple):
    changed: bool  # whether the paused set changed
    woken: int  # the registered workers told (on resume)


def call(database: Any, *, queue_model: str, name: str, pause: bool) -> Paused:
    changed, woken = SCRIPT(database, args=[queue_model, name, int(pause)])
    return Paused(bool(changed), woken)
