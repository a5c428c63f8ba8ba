"""Wrapper of schedule_unset.lua: remove a schedule and cancel its waiting run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("schedule_unset")


class Unset(NamedTuple):
    existed: bool
    canceled: int


def call(database: Any, *, schedule_model: str, timeline_model: str, timeline_pk: str, job_model: str,
         model_repr: str, job_id: str, indexed: Sequence[str]) -> Unset:
    existed, canceled = SCRIPT(database, args=[schedule_model, timeline_model, timeline_pk, job_model,
                                               model_repr, job_id, *indexed])
    return Unset(bool(existed), canceled)
