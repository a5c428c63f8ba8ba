"""Wrapper of pending_schedule.lua: schedule a pending job and update its data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("pending_schedule")


def call(database: Any, *, job_model: str, schedule_model: str, schedule_pk: str, job_id: str, at: float,
         data: Sequence[Any]) -> None:
    """``data``: by threes, key, value and delete (1: remove the key)."""
    SCRIPT(database, args=[job_model, schedule_model, schedule_pk, job_id, at, *data])
