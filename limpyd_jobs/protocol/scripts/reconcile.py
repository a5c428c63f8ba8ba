"""Wrapper of reconcile.lua: give back what a live worker holds without knowing it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("reconcile")


def call(database: Any, *, worker: str, now_str: str, now_score: float, known: Sequence[str]) -> list[str]:
    """The idents given back to their queues."""
    reply = SCRIPT(database, args=[worker, now_str, now_score, *known])
    return reply[::2]
