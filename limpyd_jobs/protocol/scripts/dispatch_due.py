"""Wrapper of dispatch_due.lua: move the due recurring runs into their queues."""

from __future__ import annotations

from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("dispatch_due")


def call(database: Any, *, timeline_model: str, timeline_pk: str, schedule_model: str, job_model: str,
         model_repr: str, queue_model: str, now_str: str, now_score: float, limit: int,
         now_int: int, default_timeout: float) -> list[str]:
    """The job ids whose run entered a queue."""
    return SCRIPT(database, args=[timeline_model, timeline_pk, schedule_model, job_model, model_repr,
                                  queue_model, now_str, now_score, limit, now_int, default_timeout])
