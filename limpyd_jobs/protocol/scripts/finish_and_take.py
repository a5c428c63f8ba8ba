"""Wrapper of finish_and_take.lua: record a success and take the next job, in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript
from . import finish
from .take import Taken

SCRIPT = LuaScript("finish_and_take")


class EndedAndTaken(NamedTuple):
    previous: str  # as finish.lua's
    taken: Taken | None  # None when the end was not written (nothing was taken then)


def call(database: Any, waiting_keys: Sequence[str], *, job_model: str, pk: str, ident: str, status: str,
         list_key: str, end_str: str, keep_queued: bool, worker: str, only_if: str, token: str,
         end_fields: str, now_str: str, now_score: float, want_counts: bool,
         delayed_keys: Sequence[str]) -> EndedAndTaken:
    reply = SCRIPT(database, waiting_keys, [
        *finish.arguments(job_model, pk, ident, status, list_key, end_str, keep_queued, worker, only_if,
                          token, end_fields),
        now_str, now_score, int(want_counts), *delayed_keys])
    return EndedAndTaken(reply[0], Taken.from_reply(reply[1:], now_str) if len(reply) > 1 else None)
