"""Wrapper of purge_finished.lua: delete the oldest finished jobs of a queue's list_key."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("purge_finished")


class Purged(NamedTuple):
    removed: int  # entries removed from the list_key (``limit`` of them: it may have more to remove)
    deleted: list[str]  # idents of the jobs deleted
    errors: list[str]  # pks of errors (of error_model) of deleted jobs, for the caller to delete


def call(database: Any, *, list_key: str, keep: int, limit: int, cutoff: str, models_json: str,
         error_model: str = "") -> Purged:
    reply = SCRIPT(database, args=[list_key, keep, limit, cutoff, models_json, error_model])
    return Purged(reply[0], reply[2:2 + reply[1]], reply[2 + reply[1]:])
