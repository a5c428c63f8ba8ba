"""Wrapper of take_many.lua: take up to N jobs in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..loader import LuaScript
from .take import Taken

SCRIPT = LuaScript("take_many")
#: Values per take in the replies.
TAKE_SIZE = 12


def takes(values: Sequence[Any], now_str: str) -> list[Taken]:
    """The takes of a reply made of take.lua's values one after the other (taken at ``now_str``)."""
    return [Taken.from_reply(values[start:start + TAKE_SIZE], now_str)
            for start in range(0, len(values), TAKE_SIZE)]


def call(database: Any, waiting_keys: Sequence[str], *, worker: str, now_str: str, now_score: float,
         want_counts: bool, pass_on: bool, count: int, delayed_keys: Sequence[str]) -> list[Taken]:
    """The jobs taken, in order; the last is an empty take if fewer than ``count`` were found."""
    return takes(SCRIPT(database, waiting_keys, [worker, now_str, now_score, int(want_counts), int(pass_on),
                                                 count, *delayed_keys]), now_str)
