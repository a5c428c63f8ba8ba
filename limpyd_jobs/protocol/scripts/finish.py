"""Wrapper of finish.lua: record the end of an attempt, if it is still the job's attempt."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("finish")


class Ended(NamedTuple):
    """``previous``: the status the job had when the end was written, or an ``EndRefusal``."""

    previous: str


def arguments(job_model: str, pk: str, ident: str, status: str, list_key: str, end_str: str,
              keep_queued: bool, worker: str, only_if: str, token: str) -> list[Any]:
    """finish.lua's ARGV (finish_and_take.lua starts with them too)."""
    return [job_model, pk, ident, status, list_key, end_str, int(keep_queued), worker, only_if, token]


def call(database: Any, *, job_model: str, pk: str, ident: str, status: str, list_key: str, end_str: str,
         keep_queued: bool, worker: str, only_if: str, token: str, detail: str = "") -> Ended:
    """``detail``: the error of a failure, for the job's history."""
    args = arguments(job_model, pk, ident, status, list_key, end_str, keep_queued, worker, only_if, token)
    return Ended(SCRIPT(database, args=[*args, detail]))
