"""Wrapper of purge_finished.lua: delete the oldest finished jobs of a queue's list_key."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("purge_finished")


class Purged(NamedTuple):
    removed: int  # entries removed from the list_key
    deleted: list[str]  # idents of the jobs deleted


def call(database: Any, *, list_key: str, keep: int, limit: int, cutoff: str, now_score: float,
         models_json: str) -> Purged:
    reply = SCRIPT(database, args=[list_key, keep, limit, cutoff, now_score, models_json])
    return Purged(reply[0], reply[1:])
