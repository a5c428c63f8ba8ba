"""Wrapper of enqueue_job.lua: put an existing job in a queue's waiting list or delayed set."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript

SCRIPT = LuaScript("enqueue_job")


class Enqueued(NamedTuple):
    queue_pk: str
    queue_created: bool
    enqueued: bool  # False: the job's attempt is not the token given, or it was canceled (not put back)


def call(database: Any, *, job_model: str, pk: str, ident: str, queue_model: str, queue_pk: str,
         queue_name: str, priority: int, delayed_str: str, delayed_score: float | str, now_score: float,
         prepend: bool, set_priority: bool, release_from: str, token: str) -> Enqueued:
    queue_pk, queue_created, enqueued = SCRIPT(database, args=[
        job_model, pk, ident, queue_model, queue_pk, queue_name, priority, delayed_str, delayed_score,
        now_score, int(prepend), int(set_priority), release_from, token])
    return Enqueued(queue_pk, bool(queue_created), bool(enqueued))
