"""The writes that record how a worker's attempts end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..clock import Clock
from ..models import Job, Queue
from ..protocol import KEYS, STATUSES
from ..protocol.scripts import finish, finish_and_take
from ..protocol.scripts.take import Taken
from ..utils import datetime_to_str
from .attempt import Attempt
from .fetcher import TakeRequest
from .outages import OUTAGE_ERRORS, retrying


class Recorder:
    """Writes the end of attempts: each write is one script, and those that end a run check the
    attempt's token (the end of a stale attempt writes nothing). During a Redis outage a write is
    tried again until it is done (the job ran: only its record is missing), unless ``give_up``
    is set (a second stop signal)."""

    def __init__(self, queue_model: type[Queue], worker_id: str, clock: Clock, give_up: threading.Event,
                 log: Callable[[str, str], None]) -> None:
        self.queue_model = queue_model
        self.worker_id = worker_id
        self.clock = clock
        self.give_up = give_up
        self.log = log
        self._lists: dict[tuple[str, str], str] = {}  # (queue pk, list name) -> key
    def success(self, job: Job, attempt: Attempt,
                then: TakeRequest | None = None) -> tuple[str, Taken | None]:
        """Mark the job SUCCESS, unless its status changed while it ran; return the status it had
        (or an ``EndRefusal``). With ``then``, take the next job in the same round trip."""
        arguments = self._end(job, attempt, STATUSES.SUCCESS, "success", keep_queued=False)
        if then is not None:
            try:
                ended = finish_and_take.call(
                    self.queue_model.database, then.waiting_keys, **arguments, now_str=then.now_str,
                    now_score=then.now_score, want_counts=then.want_counts, delayed_keys=then.delayed_keys)
                return ended.previous, ended.taken
            except OUTAGE_ERRORS:
                pass  # a plain end, tried until it is written
        return self._finish(arguments, attempt), None

    def error(self, job: Job, attempt: Attempt, requeue: bool) -> str:
        """Mark the job ERROR (in its queue's errors list), unless its status changed while it
        ran; a job to ``requeue`` stays queued and held until ``release``. Returns the status it had."""
        return self._finish(self._end(job, attempt, STATUSES.ERROR, "errors", keep_queued=requeue), attempt)

    def skip(self, job: Job, attempt: Attempt) -> str:
        """Unqueue a job that is not run (not WAITING, or canceled while running), status unchanged."""
        arguments = self._end(job, attempt, "", "", keep_queued=False, only_if="", end=False)
        return self._finish(arguments, attempt)

    def delay(self, job: Job, attempt: Attempt, until: datetime) -> None:
        """Put a job set to DELAYED in its queue's delayed set, and release it."""
        retrying(lambda: job._enqueue(self.queue_model, queue_pk=attempt.queue_pk, delayed=until,
                                      release_from=self.worker_id),
                 f"to delay {attempt.ident}", self.give_up, self.log)

    def give_back(self, job: Job, attempt: Attempt, patient: bool = True) -> None:
        """Put a job that was not run to its end back at the front of its queue, and release it
        (tried once if not ``patient``: the outage error is raised)."""
        def write() -> None:
            job._enqueue(self.queue_model, queue_pk=attempt.queue_pk, prepend=True,
                         release_from=self.worker_id)

        if patient:
            retrying(write, f"to give back {attempt.ident}", self.give_up, self.log)
        else:
            write()

    def release(self, ident: str) -> None:
        """Take a job out of the worker's running set."""
        connection = self.queue_model.get_connection()
        retrying(lambda: connection.zrem(KEYS.running(worker=self.worker_id), ident),
                 f"to release {ident}", self.give_up, self.log)

    def _end(self, job: Job, attempt: Attempt, status: str, list_name: str, keep_queued: bool,
             only_if: str = STATUSES.RUNNING, end: bool = True) -> dict[str, Any]:
        """finish.lua's arguments for this attempt."""
        list_key = self._list_key(attempt.queue_pk, list_name) if list_name else ""
        return {"job_model": job._name, "pk": job._pk or job.pk.get(), "ident": attempt.ident,
                "status": status, "list_key": list_key,
                "end_str": datetime_to_str(self.clock.now()) if end else "", "keep_queued": keep_queued,
                "worker": self.worker_id, "only_if": only_if, "token": attempt.token}

    def _list_key(self, queue_pk: str, list_name: str) -> str:
        key = self._lists.get((queue_pk, list_name))
        if key is None:
            queue = KEYS.queue(model=self.queue_model._name, pk=queue_pk)
            key = self._lists[(queue_pk, list_name)] = KEYS.queue_list(queue=queue, list=list_name)
        return key

    def _finish(self, arguments: dict[str, Any], attempt: Attempt) -> str:
        return retrying(lambda: finish.call(self.queue_model.database, **arguments).previous,
                        f"to record the end of {attempt.ident}", self.give_up, self.log)
