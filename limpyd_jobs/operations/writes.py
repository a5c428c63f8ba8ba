"""The writes: one script each, atomic while workers run, safe to send again after a lost reply."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .. import shards
from ..constants import LOGGER_NAME
from ..models import Job, Queue
from ..protocol import KEYS, STATUSES
from ..protocol.scripts import cancel_job, empty_queue, pause_queue, retry_job
from ..protocol.scripts import control as control_script
from ..protocol.scripts import requeue_failed as requeue_failed_script
from ..protocol.scripts import stop_workers as stop_workers_script
from ..utils import datetime_to_str
from ..validation import clean_queue_name
from .errors import JobStateError, UnknownJob, UnknownWorker
from .fanout import first, in_job_shard, in_queue_shard, over_shards
from .reader import Reader
from .reads import find_job, job_info
from .views import JobInfo

logger = logging.getLogger(LOGGER_NAME)

#: How long a stop request waits for its worker to read it (a worker that died never does).
STOP_REQUEST_TTL = 7 * 24 * 3600.0
#: What the control key says while workers and dispatchers must stop after their current task.
HALT = control_script.HALT


@in_job_shard(find_job)
def cancel(job: JobInfo | Job | str, queue_model: type[Queue] = Queue) -> str:
    """Cancel a job. One that waits (WAITING or DELAYED) leaves its queue now, CANCELED and
    unqueued: adding its identifier again makes a new job ("canceled"). One a worker runs is marked
    CANCELED ("marked"): the worker's end of it records a skip (``job_skipped``) and unqueues it.
    "already" if it was CANCELED. UnknownJob if it does not exist, JobStateError if it is finished
    (SUCCESS, or ERROR with no retry to come)."""
    info = job_info(job, queue_model)
    done = cancel_job.call(queue_model.database, job_model=info.model, pk=info.pk, ident=info.ident,
                           now_str=datetime_to_str(queue_model.clock.now()))
    if done.outcome == cancel_job.MISSING:
        raise UnknownJob(f"no job {info.ident}")
    if done.outcome == cancel_job.FINISHED:
        raise JobStateError(f"job {info.ident} is {STATUSES.by_value(done.previous, done.previous)}: "
                            "a finished job cannot be canceled")
    logger.info("job %s canceled (%s, was %s)", info.ident, done.outcome,
                STATUSES.by_value(done.previous, done.previous))
    return done.outcome


@in_job_shard(find_job)
def requeue(job: JobInfo | Job | str, prepend: bool = False, queue_model: type[Queue] = Queue) -> str:
    """Put a failed job (ERROR, no retry to come) back in the queue it failed in, WAITING, at the
    back (or the front if ``prepend``), with ``tries`` reset to 0 so that the worker's retries
    apply again. Returns the queue's name; UnknownJob or JobStateError if it cannot be done."""
    info = job_info(job, queue_model)
    done = retry_job.call(queue_model.database, job_model=info.model, pk=info.pk, ident=info.ident,
                          now_score=queue_model.clock.time(), prepend=prepend)
    if not done.previous:
        raise UnknownJob(f"no job {info.ident}")
    if not done.requeued:
        status = STATUSES.by_value(done.previous, done.previous)
        if done.previous != STATUSES.ERROR:
            reason = "only a failed job (ERROR) can be requeued"
        elif not done.queue:
            reason = "it has no queue to go back to"
        else:
            reason = "its worker is requeueing it already (a retry is to come)"
        raise JobStateError(f"job {info.ident} is {status}: {reason}")
    name = Reader(queue_model).queue_name(done.queue)
    logger.info("job %s requeued in %s, its tries reset", info.ident, name)
    return name


@in_queue_shard
def requeue_failed(name: str, prepend: bool = False, queue_model: type[Queue] = Queue) -> int:
    """Put every failed job of a queue name (ERROR, no retry to come) back in its queue, WAITING,
    with ``tries`` reset to 0; at the back, or at the front if ``prepend`` (oldest failure first).
    Returns how many; UnknownQueue if no queue has the name."""
    Reader(queue_model).queues_of(name)
    done = requeue_failed_script.call(queue_model.database, queue_model=queue_model._name, name=name,
                                      now_score=queue_model.clock.time(), prepend=prepend)
    logger.info("%s failed job(s) of %s requeued, their tries reset", done.requeued, name)
    return done.requeued


@in_queue_shard
def empty(name: str, queue_model: type[Queue] = Queue) -> int:
    """Cancel every job waiting or delayed in a queue name (all priorities), at once: each ends
    CANCELED and unqueued, the lists empty (adding an identifier again makes a new job). Returns
    how many; UnknownQueue if no queue has the name."""
    Reader(queue_model).queues_of(name)
    done = empty_queue.call(queue_model.database, queue_model=queue_model._name, name=name,
                            now_str=datetime_to_str(queue_model.clock.now()))
    if done.kept:
        logger.warning("%s job(s) of models not registered left in %s", done.kept, name)
    logger.info("queue %s emptied: %s job(s) canceled", name, done.canceled)
    return done.canceled


@in_queue_shard
def pause(name: str, queue_model: type[Queue] = Queue) -> bool:
    """Add a queue name to the paused set: workers take no job from it (those running end).
    False if it was paused already."""
    done = pause_queue.call(queue_model.database, queue_model=queue_model._name, name=clean_queue_name(name),
                            pause=True)
    logger.info("queue %s paused", name)
    return done.changed


@in_queue_shard
def resume(name: str, queue_model: type[Queue] = Queue) -> bool:
    """Take a queue name out of the paused set, and wake up its idle workers. False if it was
    not paused."""
    done = pause_queue.call(queue_model.database, queue_model=queue_model._name, name=clean_queue_name(name),
                            pause=False)
    logger.info("queue %s resumed (%s worker(s) woken up)", name, done.woken)
    return done.changed


def stop_workers(ids: Iterable[str] | None = None, queue_model: type[Queue] = Queue,
                 ttl: float = STOP_REQUEST_TTL) -> list[str]:
    """Ask workers (the ones of ``ids``, or every registered one) to stop after their current
    job: ``STOP`` in each one's control key, and a token in its wake-up list so that an idle
    worker reads it at once. UnknownWorker (nothing asked) if an id is not registered. Returns the
    ids asked (sharded: each worker is asked in its shard)."""
    wanted = list(dict.fromkeys(ids or []))
    if shards.sharded() and not wanted:
        every = shards.across(lambda: _stop_workers([], queue_model, ttl))
        return [worker for asked in every for worker in asked]
    if shards.sharded():
        homes = shards.across(lambda: _registered(wanted, queue_model))
        unknown = [worker for worker in wanted if not any(worker in home for home in homes)]
        if unknown:
            raise UnknownWorker(f"no registered worker {', '.join(unknown)}")
        asked: list[str] = []
        for index, home in enumerate(homes):
            if home:
                with shards.using(index):
                    asked += _stop_workers(home, queue_model, ttl)
        return asked
    return _stop_workers(wanted, queue_model, ttl)


def _registered(wanted: list[str], queue_model: type[Queue]) -> list[str]:
    """The workers of ``wanted`` registered (in the current shard)."""
    connection = queue_model.get_connection()
    with connection.pipeline(transaction=False) as pipe:
        for worker_id in wanted:
            pipe.zscore(KEYS.workers(), worker_id)
        scores = pipe.execute()
    return [worker_id for worker_id, score in zip(wanted, scores, strict=True) if score is not None]


def _stop_workers(wanted: list[str], queue_model: type[Queue], ttl: float) -> list[str]:
    """``stop_workers`` in the current shard."""
    if wanted:
        registered = _registered(wanted, queue_model)
        unknown = [worker_id for worker_id in wanted if worker_id not in registered]
        if unknown:
            raise UnknownWorker(f"no registered worker {', '.join(unknown)}")
    done = stop_workers_script.call(queue_model.database, order=stop_workers_script.STOP,
                                    ttl_ms=max(1, int(ttl * 1000)), workers=wanted)
    logger.info("asked %s worker(s) to stop: %s", done.asked, ", ".join(done.workers))
    return done.workers


@over_shards(first)
def control(command: str | None = None, queue_model: type[Queue] = Queue) -> str | None:
    """``control("HALT")`` makes dispatchers and workers stop after their current task;
    ``control("CLEAR")`` lifts it; ``control()`` tells the current command (or None)."""
    if command is None:
        return queue_model.get_connection().get(KEYS.control())
    command = command.upper()
    if command not in (HALT, "CLEAR"):
        raise ValueError(f"unknown control command {command!r}: use HALT or CLEAR")
    done = control_script.call(queue_model.database, order=command if command == HALT else "")
    return done.order or None
