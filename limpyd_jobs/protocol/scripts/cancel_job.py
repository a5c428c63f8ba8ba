"""Wrapper of cancel_job.lua: cancel a job, wherever it stands."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript
from ..vocabulary import CancelOutcome

SCRIPT = LuaScript("cancel_job")

#: The outcomes of cancel_job.lua (see its header).
CANCELED, MARKED, ALREADY = (CancelOutcome.CANCELED.value, CancelOutcome.MARKED.value,
                             CancelOutcome.ALREADY.value)
FINISHED, MISSING = CancelOutcome.FINISHED.value, CancelOutcome.MISSING.value


class Canceled(NamedTuple):
    outcome: str  # one of the outcomes above
    previous: str  # the status the job had ('' if it does not exist)


def call(database: Any, *, job_model: str, pk: str, ident: str, now_str: str) -> Canceled:
    outcome, previous = SCRIPT(database, args=[job_model, pk, ident, now_str])
    return Canceled(outcome, previous)
