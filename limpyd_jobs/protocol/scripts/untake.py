"""Wrapper of untake.lua: give back jobs taken ahead and never run, as if never taken."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("untake")


def call(database: Any, *, worker: str, now_str: str, now_score: float, idents: Sequence[str]) -> list[str]:
    """The idents given back to their queues."""
    reply = SCRIPT(database, args=[worker, now_str, now_score, *idents])
    return reply[::2]
