"""Wrapper of retry_job.lua: put one failed job back in its queue, its tries reset."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("retry_job")


class Retried(NamedTuple):
    previous: str  # the status the job had ('' if it does not exist)
    requeued: bool
    queue: str  # the job's queue_key


def call(database: Any, *, job_model: str, pk: str, ident: str, now_score: float, prepend: bool) -> Retried:
    previous, requeued, queue = SCRIPT(database, args=[job_model, pk, ident, now_score, int(prepend)])
    return Retried(previous, bool(requeued), queue)
