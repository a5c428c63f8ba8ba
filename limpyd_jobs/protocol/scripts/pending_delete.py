"""Wrapper of pending_delete.lua: remove a pending job and its data."""

from __future__ import annotations

from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("pending_delete")


def call(database: Any, *, job_model: str, schedule_model: str, schedule_pk: str, job_id: str) -> bool:
    return bool(SCRIPT(database, args=[job_model, schedule_model, schedule_pk, job_id]))
