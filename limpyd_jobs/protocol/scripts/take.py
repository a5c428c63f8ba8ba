"""Wrapper of take.lua: take the next job of some waiting lists and start it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..loader import LuaScript
from ..vocabulary import STATUSES, TakeOutcome

SCRIPT = LuaScript("take")


class Taken(NamedTuple):
    """What a take found: ``outcome`` says what to do with ``ident``."""

    outcome: TakeOutcome
    ident: str
    waiting_key: str  # the waiting list it came from
    status: str  # the status it had (RUNNING now if it was WAITING)
    waiting: int  # jobs left in the waiting lists (if counted)
    delayed: int  # jobs in the delayed sets (if counted)
    identifier: str
    attempt: str  # the new attempt token ('' unless outcome is RUN)
    timeout: str  # the job's own timeout field ('' if none)
    job_model: str  # the limpyd name of its model ('' if not registered)
    next_due: float | None  # when the first job of the delayed sets is due (None if they are empty)
    snapshot: dict[str, str]  # the fields of a job started, once started (empty otherwise)

    @classmethod
    def from_reply(cls, reply: Sequence[Any], now_str: str) -> Taken:
        """``now_str``: the take's, the ``start`` of a job it started."""
        due, pairs = reply[10], iter(reply[11])
        snapshot = dict(zip(pairs, pairs, strict=False))
        if snapshot:  # as read before the start: the fields the start wrote are known here
            attempt = reply[7]
            snapshot.update(status=STATUSES.RUNNING, start=now_str, attempt=attempt,
                            tries=attempt.rpartition(":")[2])
            snapshot.pop("end", None)
            snapshot.pop("told", None)
        return cls(_OUTCOMES[reply[0]], *reply[1:10], float(due) if due else None, snapshot)


_OUTCOMES = {outcome.value: outcome for outcome in TakeOutcome}  # faster than TakeOutcome(value)


def call(database: Any, waiting_keys: Sequence[str], *, worker: str, now_str: str, now_score: float,
         want_counts: bool, pass_on: bool, delayed_keys: Sequence[str]) -> Taken:
    return Taken.from_reply(SCRIPT(database, waiting_keys, [
        worker, now_str, now_score, int(want_counts), int(pass_on), *delayed_keys]), now_str)
