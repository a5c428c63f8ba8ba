"""Wrapper of start_job.lua: start a taken job whose model was not registered."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript
from ..vocabulary import TakeOutcome

SCRIPT = LuaScript("start_job")


class Started(NamedTuple):
    outcome: TakeOutcome  # RUN, SKIP or MISSING
    status: str
    attempt: str
    identifier: str
    timeout: str


def call(database: Any, *, job_model: str, ident: str, now_str: str, worker: str) -> Started:
    outcome, status, attempt, identifier, timeout = SCRIPT(database, args=[job_model, ident, now_str, worker])
    return Started(TakeOutcome(outcome), status, attempt, identifier, timeout)
