"""Wrapper of add_job.lua: add a job, or find the one queued with its identifier."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("add_job")


#: ``new_job`` values: what add_job does when no job is queued with the identifier (else: the pk
#: of an instance made already, to make the job of).
CREATE, NONE = "create", "none"


class JobAdded(NamedTuple):
    job_pk: str  # '' when new_job is NONE and no job is queued with the identifier
    created: bool
    queue_pk: str  # '' when an existing job stayed where it was
    queue_created: bool


def call(database: Any, *, job_model: str, model_repr: str, register: bool, queue_model: str,
         queue_name: str, priority: int, identifier: str, now_str: str, now_score: float, delayed_str: str,
         delayed_score: float | str, prepend: bool, new_job: str = CREATE,
         fields: Sequence[Any] = ()) -> JobAdded:
    """``register``: write the model in the job models registry (not needed once done)."""
    job_pk, created, queue_pk, queue_created = SCRIPT(database, args=[
        job_model, model_repr, int(register), queue_model, queue_name, priority, identifier, now_str,
        now_score, delayed_str, delayed_score, int(prepend), new_job, *fields])
    return JobAdded(job_pk, bool(created), queue_pk, bool(queue_created))
