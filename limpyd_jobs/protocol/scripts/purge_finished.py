"""Wrapper of purge_finished.lua: delete the oldest finished jobs of a queue's lists, a slice at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("purge_finished")


class Purged(NamedTuple):
    full: bool  # a list had ``limit`` entries removed: it may have more to remove
    deleted: list[str]  # idents of the jobs deleted
    errors: list[str]  # pks of errors (of error_model) of deleted jobs, for the caller to delete


def call(database: Any, *, keep: int, limit: int, cutoff: str, now_score: float, models_json: str,
         error_model: str, list_keys: Sequence[str]) -> Purged:
    reply = SCRIPT(database, args=[keep, limit, cutoff, now_score, models_json, error_model, *list_keys])
    return Purged(bool(reply[0]), reply[2:2 + reply[1]], reply[2 + reply[1]:])
