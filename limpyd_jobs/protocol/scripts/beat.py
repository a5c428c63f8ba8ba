"""Wrapper of beat.lua: a worker's heartbeat in the registry."""

from __future__ import annotations

from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("beat")


def call(database: Any, *, worker: str, now_score: float, fields: dict[str, Any]) -> int:
    """1 if the worker's hash was written whole, 0 if it was there (only the beat's time was written)."""
    pairs = (part for pair in fields.items() for part in pair)
    return SCRIPT(database, args=[worker, now_score, *pairs])
