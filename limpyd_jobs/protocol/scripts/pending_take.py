"""Wrapper of pending_take.lua: take the due pending jobs."""

from __future__ import annotations

from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("pending_take")


def call(database: Any, *, job_model: str, schedule_model: str, schedule_pk: str, now_score: float,
         reschedule_at: float | str, limit: int | str) -> list[tuple[Any, list[Any]]]:
    """``(job id, [key, value, ...])`` of each job taken, oldest first (values as Redis gives them)."""
    reply = SCRIPT(database, args=[job_model, schedule_model, schedule_pk, now_score, reschedule_at, limit])
    return list(zip(reply[::2], reply[1::2], strict=True))
