"""Wrapper of finish.lua: record the end of an attempt, if it is still the job's attempt."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("finish")


class Ended(NamedTuple):
    """``previous``: the status the job had when the end was written, or an ``EndRefusal``."""

    previous: str


def arguments(job_model: str, pk: str, ident: str, status: str, list_key: str, end_str: str,
              keep_queued: bool, worker: str, only_if: str, token: str, end_fields: str) -> list[Any]:
    """finish.lua's ARGV (finish_and_take.lua starts with them too)."""
    return [job_model, pk, ident, status, list_key, end_str, int(keep_queued), worker, only_if, token,
            end_fields]


def call(database: Any, *, job_model: str, pk: str, ident: str, status: str, list_key: str, end_str: str,
         keep_queued: bool, worker: str, only_if: str, token: str, end_fields: str = "",
         detail: str = "") -> Ended:
    """``detail``: the error of a failure, for the job's history; ``end_fields``: see ``end_fields``."""
    args = arguments(job_model, pk, ident, status, list_key, end_str, keep_queued, worker, only_if, token,
                     end_fields)
    return Ended(SCRIPT(database, args=[*args, detail]))


def end_fields(values: dict[str, str]) -> str:
    """More fields a job writes with its end (finish.lua's ``end_fields``): '' for none."""
    return json.dumps([item for pair in values.items() for item in pair]) if values else ""
