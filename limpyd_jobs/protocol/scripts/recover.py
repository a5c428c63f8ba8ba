"""Wrapper of recover.lua: give back the jobs of workers that stopped beating."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript
from ..vocabulary import LostJobOutcome

SCRIPT = LuaScript("recover")


class LostJob(NamedTuple):
    """A job given back (``REQUEUED``) or failed (``FAILED``) by a recovery."""

    ident: str
    outcome: LostJobOutcome
    tries: int
    worker_id: str
    queue_name: str


class Recovered(NamedTuple):
    dead_workers: int
    jobs: list[LostJob]


def call(database: Any, *, now_score: float | str, heartbeat_timeout: float, max_tries: int, recoverer: str,
         lock_ms: int, now_str: str) -> Recovered:
    """``now_score`` '': Redis's clock decides who is dead."""
    reply = SCRIPT(database, args=[now_score, heartbeat_timeout, max_tries, recoverer, lock_ms, now_str])
    rest = reply[1:]
    jobs = [LostJob(rest[i], LostJobOutcome(rest[i + 1]), int(rest[i + 2]), rest[i + 3], rest[i + 4])
            for i in range(0, len(rest), 5)]
    return Recovered(reply[0], jobs)
