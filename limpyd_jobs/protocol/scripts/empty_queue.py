"""Wrapper of empty_queue.lua: cancel every waiting and delayed job of a queue name."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("empty_queue")


class Emptied(NamedTuple):
    canceled: int  # jobs that were WAITING or DELAYED, CANCELED now
    kept: int  # idents of unregistered models left in the lists


def call(database: Any, *, queue_model: str, name: str, now_str: str) -> Emptied:
    canceled, kept = SCRIPT(database, args=[queue_model, name, now_str])
    return Emptied(canceled, kept)
