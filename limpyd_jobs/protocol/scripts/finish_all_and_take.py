"""Wrapper of finish_all_and_take.lua: record successes and take the next jobs, in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript
from .take import Taken
from .take_many import takes

SCRIPT = LuaScript("finish_all_and_take")


class Ended(NamedTuple):
    """One success to write: finish.lua's arguments for it."""

    job_model: str
    pk: str
    ident: str
    list_key: str
    end_str: str
    token: str
    end_fields: str = ""  # see finish.end_fields


class EndedAllAndTaken(NamedTuple):
    previous: list[str]  # finish.lua's answer for each end, in order
    taken: list[Taken]  # the jobs taken (the last an empty take if the lists ran dry)


def call(database: Any, waiting_keys: Sequence[str], *, worker: str, now_str: str, now_score: float,
         want_counts: bool, count: int, ends: Sequence[Ended],
         delayed_keys: Sequence[str]) -> EndedAllAndTaken:
    values = [value for ended in ends for value in ended]
    reply = SCRIPT(database, waiting_keys, [worker, now_str, now_score, int(want_counts), count, len(ends),
                                            *values, *delayed_keys])
    return EndedAllAndTaken(list(reply[:len(ends)]), takes(reply[len(ends):], now_str))
