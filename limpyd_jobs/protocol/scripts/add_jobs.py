"""Wrapper of add_jobs.lua: add many jobs of one model in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("add_jobs")


class JobsAdded(NamedTuple):
    jobs: list[tuple[str, bool]]  # (job pk, created) per record, in their order
    created_queues: list[str]


def call(database: Any, *, job_model: str, model_repr: str, register: bool, queue_model: str, now_str: str,
         now_score: float, records: Sequence[Sequence[Any]]) -> JobsAdded:
    """``register``: write the model in the job models registry (not needed once done)."""
    reply = SCRIPT(database, args=[job_model, model_repr, int(register), queue_model, now_str, now_score,
                                   *(value for record in records for value in record)])
    count = 2 * len(records)
    jobs = [(reply[index], bool(reply[index + 1])) for index in range(0, count, 2)]
    return JobsAdded(jobs, reply[count:])
