"""What a worker holds: the jobs it took, each turned into an ``Attempt``, until their end is written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from ..exceptions import InvalidIdent
from ..models import Job, Queue
from ..orm import model_name
from ..protocol import STATUSES, TakeOutcome
from ..protocol.scripts import start_job, untake
from ..protocol.scripts.take import Taken
from ..utils import datetime_to_str, stored
from ..validation import parse_timeout
from .attempt import Attempt


class Holdings:
    """The attempts a worker holds, by ident: made from its takes (or, in a pre-forked child,
    from the data the parent sends), given back when the run ends before they ran."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.attempts: dict[str, Attempt] = {}
        #: The ident of the job a take just found: ``get_job`` loads it without checking it exists.
        self.just_taken = ""

    def note_taken(self, taken: Taken) -> tuple[Queue | None, Job | None]:
        """Turn a take into (queue, job), and hold its attempt; (None, None) if it cannot run here."""
        worker = self.worker
        queue = worker.get_queue(taken.waiting_key)
        now = worker.clock.now()
        if taken.outcome == TakeOutcome.MALFORMED:  # the take set it aside: it never runs
            worker.log(f"job {taken.ident} found in {taken.waiting_key} set aside in its queue's malformed "
                       "list: its key in Redis is not a hash", level="error")
            return None, None
        if taken.outcome != TakeOutcome.MISSING:
            try:
                job = self._load(taken.ident)
            except InvalidIdent as exc:
                self._set_aside(taken, queue, exc)
                return None, None
            if taken.outcome == TakeOutcome.UNKNOWN:  # its model was not registered (older data)
                taken = self._start_unregistered(job, taken, now)
        if taken.outcome == TakeOutcome.MISSING:
            worker.log(f"job {taken.ident} found in {taken.waiting_key} does not exist anymore: ignored",
                       level="warning")
            return None, None
        job._attempt_token = taken.attempt  # its moves through this instance check the attempt
        job._ident = taken.ident  # known: kept even if a hook deletes the job
        if taken.snapshot:
            job.take_snapshot(taken.snapshot)  # the callback reads its fields without a round trip
        pk, name, priority = self._queue_fields(taken.waiting_key, queue)
        self.attempts[taken.ident] = Attempt(
            ident=taken.ident, identifier=taken.identifier, status=taken.status, token=taken.attempt,
            taken_at=now, timeout=self._job_timeout(taken.timeout), waiting_key=taken.waiting_key,
            queue_pk=pk, queue_name=name, queue_priority=priority, snapshot=taken.snapshot, job=job,
            queue=queue)
        return queue, job

    def rebuild(self, attempt: Attempt) -> None:
        """Hold an attempt sent by the parent process (a pre-forked child): its objects are made here."""
        attempt.job, attempt.queue = self._load(attempt.ident), self.worker.get_queue(attempt.waiting_key)
        if attempt.snapshot:
            attempt.job.take_snapshot(attempt.snapshot)
        attempt.job._attempt_token = attempt.token
        self.attempts[attempt.ident] = attempt

    def attempt_of(self, job: Job, queue: Queue) -> Attempt:
        """The attempt held for ``job``; for a job not taken by the worker, one without a token
        (its end is then written without checking whose attempt it is)."""
        attempt = self.attempts.get(job.ident)
        if attempt is None:
            name, priority = queue.hmget("name", "priority")
            attempt = Attempt(
                ident=job.ident, identifier=job.identifier.hget() or "", status=STATUSES.WAITING, token="",
                taken_at=self.worker.clock.now(), timeout=None, waiting_key=queue.waiting.key,
                queue_pk=queue.pk.get(), queue_name=name or "", queue_priority=int(priority or 0), job=job,
                queue=queue)
        return attempt

    def label(self, job: Job, queue: Queue) -> str:
        """``[queue|identifier]`` for log lines, without a round trip for a held job."""
        attempt = self.attempt_of(job, queue)
        return f"[{attempt.queue_name}|{attempt.identifier}]"

    def drop(self, ident: str) -> None:
        """Forget an attempt whose end is written (or left to recovery)."""
        self.attempts.pop(ident, None)

    def give_back_unstarted(self, reserved: Sequence[str] = ()) -> None:
        """Put back the jobs taken ahead and not run yet (at the end of a run; ``reserved``: held
        ones, taken first), at the front of their queues in their order, as if never taken (one
        round trip)."""
        worker = self.worker
        kept = worker.fetcher.release_kept()
        untouched = [*reserved, *(taken.ident for taken in kept if taken.outcome == TakeOutcome.RUN)]
        try:
            if untouched:
                now_str, now_score = stored(worker.clock.now())
                untake.call(worker.queue_model.database, worker=worker.id, now_str=now_str,
                            now_score=now_score, idents=untouched)
        except RedisError as exc:  # they stay in the running set: recovery gives them back
            worker.log(f"could not give back {', '.join(untouched)} ({exc}): recovery will", level="warning")
        for ident in reserved:
            self.drop(ident)
        for taken in kept:
            if taken.outcome != TakeOutcome.RUN:  # skipped or delayed: nothing of its own runs
                queue, job = self.note_taken(taken)
                if job is not None:
                    try:
                        worker.runner.handle(job, queue)
                    except RedisError as exc:
                        worker.log(f"could not end {job.ident} ({exc}): it will be recovered",
                                   level="warning")
                    finally:
                        self.drop(job.ident)

    def _load(self, ident: str) -> Job:
        """The job a take found, through the worker's ``get_job`` (no round trip to check it)."""
        self.just_taken = ident
        try:
            return self.worker.get_job(ident)
        finally:
            self.just_taken = ""

    def _queue_fields(self, waiting_key: str, queue: Queue) -> tuple[str, str, int]:
        """The pk, name and priority of the queue of a waiting list (read if it is not one of the
        worker's queues: a list its keys name but its queues do not, a subclass's)."""
        info = self.worker.fetcher.info(waiting_key)
        if info is not None:
            return info.pk, info.name, info.priority
        name, priority = queue.hmget("name", "priority")
        return queue.pk.get(), name or "", int(priority or 0)

    def _job_timeout(self, value: str) -> float | None:
        """The job's own timeout if it has a valid one, else the worker's ``job_timeout``."""
        default = self.worker.job_timeout
        try:
            return parse_timeout(value) or default
        except ValueError as exc:
            self.worker.log(f"invalid job timeout ({exc}): using {default}", level="warning")
            return default

    def _start_unregistered(self, job: Job, taken: Taken, now: datetime) -> Taken:
        """Start a job whose model the take did not know (older data): a second round trip."""
        started = start_job.call(job.database, job_model=model_name(job), ident=taken.ident,
                                 now_str=datetime_to_str(now), worker=self.worker.id)
        if started.outcome == TakeOutcome.MISSING:
            self.worker.recorder.release(taken.ident)
        return taken._replace(outcome=started.outcome, status=started.status, attempt=started.attempt,
                              identifier=started.identifier, timeout=started.timeout,
                              job_model=model_name(job))

    def _set_aside(self, taken: Taken, queue: Queue, error: InvalidIdent) -> None:
        """A job the worker cannot load: it ends in ERROR with the reason (or in its queue's errors
        list, as an ident), and the worker goes on."""
        worker = self.worker
        info = worker.fetcher.info(taken.waiting_key)
        worker.log(f"job {taken.ident} set aside: {error}", level="error")
        worker.recorder.set_aside(taken, info.pk if info else queue.pk.get())
        if worker.save_errors and taken.outcome == TakeOutcome.RUN:
            worker.error_model.add_error_for(info.name if info else "", taken.ident, taken.identifier, error)
