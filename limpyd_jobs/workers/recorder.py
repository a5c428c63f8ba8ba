"""The writes that record how a worker's attempts end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from redis.exceptions import RedisError

from ..clock import Clock
from ..models import Job, Queue
from ..orm import model_name, pk_of
from ..outages import is_outage, retrying
from ..protocol import KEYS, STATUSES, TakeOutcome
from ..protocol.scripts import enqueue_job, finish, finish_all_and_take, finish_and_take, set_aside
from ..protocol.scripts.take import Taken
from ..utils import datetime_to_str, stored
from .attempt import Attempt
from .fetcher import TakeRequest


class Success(NamedTuple):
    previous: str  # the status the job had (RUNNING when the success was written), or an EndRefusal
    taken: Taken | None  # the next job, taken along
    take_lost: bool  # the take along may have run without its reply arriving (see reconcile)


class Recorder:
    """Writes the end of attempts. Each write is one script that checks the attempt's token (the
    end of a stale attempt writes nothing) and is safe to send again; during a Redis outage a
    write is tried again, once Redis answers, until it is done (the job ran: only its record is
    missing), unless ``give_up`` is set (a stop-now signal)."""

    def __init__(self, queue_model: type[Queue], worker_id: str, clock: Clock, give_up: threading.Event,
                 log: Callable[[str, str], None]) -> None:
        self.queue_model = queue_model
        self.worker_id = worker_id
        self.clock = clock
        self.give_up = give_up
        self.log = log
        self._lists: dict[tuple[str, str], str] = {}  # (queue pk, list name) -> key

    def success(self, job: Job, attempt: Attempt, take_next: TakeRequest | None = None) -> Success:
        """Mark the job SUCCESS, unless its status changed while it ran. With ``take_next``, take
        the next job in the same round trip."""
        arguments = self._end(job, attempt, STATUSES.SUCCESS, "success", keep_queued=False,
                              end_str=take_next.now_str if take_next is not None else None)
        arguments["end_fields"] = finish.end_fields(job.fields_at_end())
        if take_next is not None:
            request = take_next
            try:
                ended = finish_and_take.call(
                    self.queue_model.database, request.waiting_keys, **arguments, now_str=request.now_str,
                    now_score=request.now_score, want_counts=request.want_counts,
                    delayed_keys=request.delayed_keys)
                return Success(ended.previous, ended.taken, False)
            except RedisError as exc:  # a plain end, tried until it is written; a take may be lost
                if not is_outage(exc):
                    raise
                return Success(self._finish(arguments), None, True)
        return Success(self._finish(arguments), None, False)

    def successes(self, ended: list[tuple[Job, Attempt, datetime]], take_next: TakeRequest | None = None,
                  count: int = 1) -> tuple[list[str], list[Taken] | None, bool]:
        """Mark several jobs SUCCESS, each at its end time, in one round trip (each unless its
        status changed while it ran); with ``take_next``, take up to ``count`` next jobs in it too. The
        status each had, the jobs taken (None: no take), and whether a take may be lost (as
        ``Success`` says)."""
        ends = [finish_all_and_take.Ended(
            model_name(job), pk_of(job), attempt.ident, self._list_key(attempt.queue_pk, "success"),
            datetime_to_str(end), attempt.token, finish.end_fields(job.fields_at_end()))
            for job, attempt, end in ended]
        database, worker = self.queue_model.database, self.worker_id

        def write(request: TakeRequest | None) -> finish_all_and_take.EndedAllAndTaken:
            if request is None:  # the ends alone
                return finish_all_and_take.call(database, [], worker=worker, now_str="", now_score=0,
                                                want_counts=False, count=0, ends=ends, delayed_keys=[])
            return finish_all_and_take.call(
                database, request.waiting_keys, worker=worker, now_str=request.now_str,
                now_score=request.now_score, want_counts=request.want_counts, count=count, ends=ends,
                delayed_keys=request.delayed_keys)

        if take_next is not None:
            try:
                written = write(take_next)
                return written.previous, written.taken, False
            except RedisError as exc:  # the ends alone, tried until written; a take may be lost
                if not is_outage(exc):
                    raise
                return self.retrying(lambda: write(None), "to record the ends of jobs").previous, None, True
        return self.retrying(lambda: write(None), "to record the ends of jobs").previous, None, False

    def error(self, job: Job, attempt: Attempt, requeue: Callable[[], bool],
              detail: str = "") -> tuple[str, bool]:
        """Mark the job ERROR (in its queue's errors list), unless its status changed while it
        ran. ``requeue()`` says whether it goes back to its queue: it then stays queued (and
        held) until ``release``. Decided and written together, tried until written; returns the
        status the job had, and the decision. ``detail``: the error, for the job's history."""
        def write() -> tuple[str, bool]:
            decided = requeue()
            arguments = self._end(job, attempt, STATUSES.ERROR, "errors", keep_queued=decided)
            return finish.call(self.queue_model.database, **arguments, detail=detail).previous, decided

        return self.retrying(write, f"to record the error of {attempt.ident}")

    def skip(self, job: Job, attempt: Attempt) -> str:
        """Unqueue a job that is not run (not WAITING, or canceled while running), status unchanged."""
        arguments = self._end(job, attempt, "", "", keep_queued=False, only_if="", end=False)
        return self._finish(arguments)

    def delay(self, job: Job, attempt: Attempt, until: datetime) -> bool:
        """Put a job set to DELAYED in its queue's delayed set, and release it (False: a stale attempt)."""
        return self.retrying(lambda: self._enqueue(job, attempt, delayed=until), f"to delay {attempt.ident}")

    def give_back(self, job: Job, attempt: Attempt, patient: bool = True) -> bool:
        """Put a job that was not run to its end back at the front of its queue, and release it
        (tried once if not ``patient``: the outage error is raised). False: a stale attempt."""
        def write() -> bool:
            return self._enqueue(job, attempt, prepend=True)

        return self.retrying(write, f"to give back {attempt.ident}") if patient else write()

    def _enqueue(self, job: Job, attempt: Attempt, delayed: datetime | None = None,
                 prepend: bool = False) -> bool:
        """Put the job back in the queue it was taken from (its delayed set if ``delayed``), and
        release it; False: a stale attempt."""
        delayed_str, delayed_score = stored(delayed) if delayed else ("", "")
        return enqueue_job.call(
            self.queue_model.database, job_model=model_name(job), pk=pk_of(job), ident=attempt.ident,
            queue_model=model_name(self.queue_model), queue_pk=attempt.queue_pk, queue_name="", priority=0,
            delayed_str=delayed_str, delayed_score=delayed_score, now_score=self.clock.time(),
            prepend=prepend, set_priority=False, release_from=self.worker_id, token=attempt.token).enqueued

    def set_aside(self, taken: Taken, queue_pk: str) -> None:
        """End a job the worker cannot load (its model is unknown here): ERROR in its queue's
        errors list if the take started it, else just unqueued; an ident of an unregistered model
        goes to that list as it is. Nothing else is read or imported."""
        errors = self._list_key(queue_pk, "errors")
        if not taken.job_model:
            database, worker = self.queue_model.database, self.worker_id
            self.retrying(lambda: set_aside.call(database, worker=worker, ident=taken.ident, list_key=errors),
                          f"to set {taken.ident} aside")
            return
        started = taken.outcome == TakeOutcome.RUN
        pk = taken.ident.rpartition(":")[2]
        self._finish({"job_model": taken.job_model, "pk": pk, "ident": taken.ident,
                      "status": STATUSES.ERROR if started else "", "list_key": errors if started else "",
                      "end_str": datetime_to_str(self.clock.now()) if started else "", "keep_queued": False,
                      "worker": self.worker_id, "only_if": "", "token": taken.attempt})

    def release(self, ident: str) -> None:
        """Take a job out of the worker's running set."""
        connection = self.queue_model.get_connection()
        running = KEYS.running(worker=self.worker_id)
        self.retrying(lambda: connection.zrem(running, ident), f"to release {ident}")

    def _end(self, job: Job, attempt: Attempt, status: str, list_name: str, keep_queued: bool,
             only_if: str = STATUSES.RUNNING, end: bool = True, end_str: str | None = None) -> dict[str, Any]:
        """finish.lua's arguments for this attempt; ``end_str``: the end's date if known (now)."""
        list_key = self._list_key(attempt.queue_pk, list_name) if list_name else ""
        if end_str is None:
            end_str = datetime_to_str(self.clock.now()) if end else ""
        return {"job_model": model_name(job), "pk": attempt.ident.rpartition(":")[2], "ident": attempt.ident,
                "status": status, "list_key": list_key, "end_str": end_str, "keep_queued": keep_queued,
                "worker": self.worker_id, "only_if": only_if, "token": attempt.token}

    def _list_key(self, queue_pk: str, list_name: str) -> str:
        key = self._lists.get((queue_pk, list_name))
        if key is None:
            queue = KEYS.queue(model=model_name(self.queue_model), pk=queue_pk)
            key = self._lists[(queue_pk, list_name)] = KEYS.queue_list(queue=queue, list=list_name)
        return key

    def _finish(self, arguments: dict[str, Any]) -> str:
        return self.retrying(lambda: finish.call(self.queue_model.database, **arguments).previous,
                             f"to record the end of {arguments['ident']}")

    def retrying(self, call: Callable[[], Any], what: str) -> Any:
        """``call()``, tried again after each outage until done (see the class docstring)."""
        return retrying(call, what, self.give_up, self.log, self.queue_model.get_connection().ping)
