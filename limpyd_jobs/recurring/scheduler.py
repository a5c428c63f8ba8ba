"""Recurring schedules as limpyd models; their runs are ordinary jobs taken by ordinary workers.

A run is a ``RecurringJob`` whose hooks place the next one: in the timeline (RRULE), back in its
queue (CONTINUE), or nowhere (STP; a failed run: DIE, unless the schedule's ``on_error`` is
``continue``). Each racing write is one script (schedule_set, schedule_mark, schedule_unset,
dispatch_due). Statuses, the one-place rule, timeouts: docs/recurring.rst.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from datetime import datetime, timezone
from typing import Any

from limpyd import fields

from .. import orm, shards
from ..constants import LOGGER_NAME
from ..due import DueSet
from ..exceptions import InvalidValue, LimpydJobsException
from ..models import BaseJobsModel, Job, Queue
from ..operations.fanout import concatenated, over_shards
from ..operations.writes import HALT, control
from ..outages import every, log_to
from ..protocol import KEYS, STATUSES, ScheduleEvent
from ..protocol.scripts import dispatch_due, schedule_mark, schedule_set, schedule_unset
from ..utils import stored
from ..validation import clean_priority, clean_schedule_id, clean_timeout
from .rules import CONTINUE, BadSchedule, parse

TIMELINE_PK = "all"
#: Seconds a run may take when its schedule sets no timeout (a run past it is killed: DIE).
DEFAULT_TIMEOUT = 10.0
#: What a failed run does to its schedule: ends it (redbike's DIE, the default), or not.
DIE, CONTINUE_ON_ERROR = "die", "continue"
ON_ERROR = (DIE, CONTINUE_ON_ERROR)
logger = logging.getLogger(LOGGER_NAME)


class StopWork(LimpydJobsException):
    """Raised by a recurring run: set its schedule to STOP."""


class UnsetJob(LimpydJobsException):
    """Raised by a recurring run: remove its schedule."""


class RecurringSchedule(BaseJobsModel):
    """The schedule of one job id, and its latest status."""

    job_id = fields.PKField()
    schedule = fields.InstanceHashField()
    tz = fields.InstanceHashField()
    queue_name = fields.InstanceHashField(indexable=True)
    priority = fields.InstanceHashField()
    status = fields.InstanceHashField()
    version = fields.InstanceHashField()
    #: When the schedule was set: the start of an RRULE without DTSTART.
    start = fields.InstanceHashField()
    #: Seconds each run may take ('' : DEFAULT_TIMEOUT).
    timeout = fields.InstanceHashField()
    #: Why the last event happened (the error of a DIE, the parser's message for BAD).
    reason = fields.InstanceHashField()
    #: When the next run is due, while it waits for the end of the running one (set meanwhile).
    deferred = fields.InstanceHashField()
    #: What a failed run does: ``die`` (or ''), the schedule ends; ``continue``, the next run is placed.
    on_error = fields.InstanceHashField()


class Timeline(BaseJobsModel):
    """The next run of every scheduled job id (one instance, ``all``), a due set."""

    name = fields.PKField()
    runs = fields.SortedSetField()


class RecurringJob(Job):
    """One run of a schedule: its identifier is the job id; its hooks reschedule it."""

    schedule_version = fields.InstanceHashField()
    #: A run is never retried: its schedule says when the next one comes.
    requeue_times = 0

    def on_started(self, queue: Queue) -> None:
        _mark(self.identifier.hget(), ScheduleEvent.WRK)

    def on_success(self, queue: Queue, result: Any) -> None:
        backoff = result if isinstance(result, (int, float)) and not isinstance(result, bool) else None
        reschedule(self.identifier.hget(), backoff=backoff, version=self.schedule_version.hget())

    def on_error(self, queue: Queue, exception: BaseException, traceback: str | None) -> None:
        job_id, version = self.identifier.hget(), self.schedule_version.hget()
        if isinstance(exception, (StopWork, UnsetJob)) and _same_version(job_id, version):
            set_schedule(job_id, "STOP") if isinstance(exception, StopWork) else unset_schedule(job_id)
            return
        # DIE (the next run placed only for on_error=continue, by the script), unless the schedule
        # was set anew meanwhile: then its deferred run is placed
        same = RecurringSchedule.exists(pk=job_id) and _same_version(job_id, version)
        next_run = _next_run(job_id)[1] if same else None
        _placed(job_id, version, ScheduleEvent.DIE, next_run, f"{type(exception).__name__}: {exception}")


#: Inside ``set_schedule`` or ``unset_schedule`` in one shard: no fan-out again.
_inside_set: contextvars.ContextVar[bool] = contextvars.ContextVar("limpyd_jobs_schedule_set", default=False)


def default_queue_name(job_id: str) -> str:
    """The queue of a job id's runs: the part after its last ``:`` (the whole id without one)."""
    return job_id.rsplit(":", 1)[-1]


def timeline() -> DueSet:
    """The timeline: job id -> when its next run is due."""
    return DueSet(Timeline.get_connection(), KEYS.field(model=Timeline._name, pk=TIMELINE_PK, field="runs"),
                  Timeline.clock)


def _mark(job_id: str, event: ScheduleEvent, version: str | None = None, next_run: float | None = None,
          reason: str = "") -> schedule_mark.Marked:
    """Record a schedule's event and place its next run, if the schedule is still ``version``.

    Else the run that a newer schedule deferred until the end of this one is placed."""
    return schedule_mark.call(
        BaseJobsModel.database, schedule_model=RecurringSchedule._name, timeline_model=Timeline._name,
        timeline_pk=TIMELINE_PK, job_id=job_id, version=version or "", event=event.value,
        now_int=int(RecurringSchedule.clock.time()), next_run="" if next_run is None else next_run,
        reason=reason)


def set_schedule(job_id: str, schedule: str | None, after: float | None = None,
                 queue_name: str | None = None, priority: int = 0, tz: str | None = None,
                 timeout: float | None = None, on_error: str = DIE) -> str:
    """Set (``None``: unset) the schedule of ``job_id``, its next run placed at once; the status set.

    ``on_error``: ``die`` (a failed run ends the schedule, as redbike) or ``continue``. Sharded, the
    schedule lives in the shard of its queue (unset in any other)."""
    if schedule is None:
        unset_schedule(job_id)
        return "UNSET"
    if shards.sharded() and not _inside_set.get():
        queue = queue_name or default_queue_name(job_id)
        for index in _shards_holding(job_id):
            if index != shards.shard_of(queue):
                with shards.using(index):
                    unset_schedule(job_id)
        token = _inside_set.set(True)
        try:
            with shards.for_queue(queue):
                return set_schedule(job_id, schedule, after, queue_name, priority, tz, timeout, on_error)
        finally:
            _inside_set.reset(token)
    if on_error not in ON_ERROR:
        raise InvalidValue(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
    clean_schedule_id(job_id, queue_name or None)
    priority = clean_priority(priority)
    now = RecurringSchedule.clock.time()
    after = now if after is None else after
    reason = ""
    try:
        next_run = parse(schedule, tz or None, start=after).next_run(after)
        event = ScheduleEvent.TML if next_run is not None else ScheduleEvent.STP
    except BadSchedule as exc:
        next_run, event, reason = None, ScheduleEvent.BAD, str(exc)
    if isinstance(schedule, str) and schedule.strip().upper() == "NOW":
        schedule = "STOP"  # as redbike: the run placed now is the last one
    values = (("schedule", schedule, 0), ("tz", tz or "", 0), ("priority", int(priority), 0),
              ("queue_name", queue_name or default_queue_name(job_id), 1), ("start", after, 0),
              ("timeout", "" if timeout is None else clean_timeout(timeout), 0), ("on_error", on_error, 0))
    written = schedule_set.call(
        BaseJobsModel.database, schedule_model=RecurringSchedule._name, timeline_model=Timeline._name,
        timeline_pk=TIMELINE_PK, job_model=RecurringJob._name, model_repr=RecurringJob.get_model_repr(),
        job_id=job_id, next_run="" if next_run is None else next_run, event=event.value, now_int=int(now),
        reason=reason, fields=[part for value in values for part in value])
    if next_run is not None and next_run <= now and not written.deferred:
        dispatch()
        return ScheduleEvent.ENQ.value
    return event.value


def _shards_holding(job_id: str) -> list[int]:
    """The shards where ``job_id`` has a schedule."""
    held = shards.across(lambda: RecurringSchedule.get_connection().sismember(
        KEYS.collection(model=RecurringSchedule._name), job_id))
    return [index for index, found in enumerate(held) if found]


def unset_schedule(job_id: str) -> None:
    """Remove a schedule: out of the timeline, its waiting run canceled (sharded: in its shard).

    A running run ends without being rescheduled."""
    if shards.sharded() and not _inside_set.get():
        token = _inside_set.set(True)
        try:
            for index in _shards_holding(job_id):
                with shards.using(index):
                    unset_schedule(job_id)
        finally:
            _inside_set.reset(token)
        return
    indexed = [field.name for field in RecurringSchedule.get_class_fields()
               if field.indexable and field is not orm.pk_field(RecurringSchedule)]
    schedule_unset.call(
        BaseJobsModel.database, schedule_model=RecurringSchedule._name, timeline_model=Timeline._name,
        timeline_pk=TIMELINE_PK, job_model=RecurringJob._name, model_repr=RecurringJob.get_model_repr(),
        job_id=job_id, indexed=indexed)


def _same_version(job_id: str, version: str | None) -> bool:
    """Whether the schedule is still the one a run was dispatched for (True if unknown)."""
    current = RecurringSchedule.get_connection().hget(KEYS.hash(model=RecurringSchedule._name, pk=job_id),
                                                      "version")
    return version is None or current is None or str(current) == str(version)


def reschedule(job_id: str, backoff: float | None = None, version: str | None = None) -> str | None:
    """After a run, place the next occurrence of the job's schedule; the status set.

    None if unset, or if set anew while the run ran: the run it deferred is placed then."""
    if not RecurringSchedule.exists(pk=job_id):
        return None
    if not _same_version(job_id, version):
        return _placed(job_id, version, ScheduleEvent.TML)
    return _placed(job_id, version, *_next_run(job_id, backoff))


def _next_run(job_id: str, backoff: float | None = None) -> tuple[ScheduleEvent, float | None]:
    """The event and next run after a run of ``job_id``'s schedule (TML and when; STP; BAD)."""
    text, tz, start = RecurringSchedule(job_id).hmget("schedule", "tz", "start")
    try:
        schedule = parse(text, tz or None, start=float(start) if start else None)
    except (BadSchedule, ValueError):
        return ScheduleEvent.BAD, None
    now = RecurringSchedule.clock.time()
    if schedule.kind == CONTINUE:
        return ScheduleEvent.TML, now + backoff if backoff else now
    next_run = schedule.next_run(now) if schedule.repeats else None  # NOW, AT and STOP run once at most
    return (ScheduleEvent.STP, None) if next_run is None else (ScheduleEvent.TML, next_run)


def _placed(job_id: str, version: str | None, event: ScheduleEvent, next_run: float | None = None,
            reason: str = "") -> str | None:
    """Mark the event, place the next run and dispatch it if due; the status set.

    If the schedule changed meanwhile, the run it deferred is placed instead, and None returned."""
    marked = _mark(job_id, event, version, next_run, reason)
    placed = next_run if marked.marked else marked.placed
    due = placed is not None and placed <= RecurringSchedule.clock.time()
    if due:
        dispatch()
    if not marked.marked:
        return None
    return ScheduleEvent.ENQ.value if due else event.value


@over_shards(concatenated)
def dispatch(now: float | None = None, limit: int = 1000, queue_model: type[Queue] = Queue) -> list[str]:
    """Move the runs that are due into their queues (atomic: safe on several hosts at once)."""
    moment = RecurringSchedule.clock.now() if now is None else datetime.fromtimestamp(now, timezone.utc)
    now_str, now_score = stored(moment)
    return dispatch_due.call(
        BaseJobsModel.database, timeline_model=Timeline._name, timeline_pk=TIMELINE_PK,
        schedule_model=RecurringSchedule._name, job_model=RecurringJob._name,
        model_repr=RecurringJob.get_model_repr(), queue_model=queue_model._name, now_str=now_str,
        now_score=now_score, limit=limit, now_int=int(now_score), default_timeout=DEFAULT_TIMEOUT)


def tell(job_id: str) -> dict[str, Any]:
    """What is known of a job id: status, next run, schedule, and whether a run is working."""
    return tell_all([job_id])[0]


def tell_all(job_ids: list[str]) -> list[dict[str, Any]]:
    """``tell`` of each of these job ids, read in two round trips for all (read commands only;
    sharded: in each shard, a job id told by the shard that has its schedule)."""
    found = shards.across(lambda: _tell_all(job_ids))
    return [next((told for told in tolds if told["status"] is not None), tolds[0])
            for tolds in zip(*found, strict=True)]


def _tell_all(job_ids: list[str]) -> list[dict[str, Any]]:
    connection = RecurringSchedule.get_connection()
    model, job_model = RecurringSchedule._name, RecurringJob._name
    runs = timeline().key
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.sismember(KEYS.collection(model=model), job_id)
            pipe.hmget(KEYS.hash(model=model, pk=job_id), "schedule", "status", "reason", "deferred",
                       "on_error")
            pipe.zscore(runs, job_id)
            pipe.sinter(KEYS.index(model=job_model, field="identifier", value=job_id),
                        KEYS.index(model=job_model, field="queued", value="1"))
        read = pipe.execute() if job_ids else []
    queued = [sorted(read[4 * number + 3]) for number in range(len(job_ids))]
    with connection.pipeline(transaction=False) as pipe:
        for pks in queued:
            for pk in pks:
                pipe.hget(KEYS.hash(model=job_model, pk=pk), "status")
        statuses = iter(pipe.execute() if any(queued) else [])
    found = []
    for number, job_id in enumerate(job_ids):
        exists, (text, status, reason, deferred, on_error), next_run, _ = read[4 * number:4 * number + 4]
        working = [next(statuses) == STATUSES.RUNNING for _ in queued[number]]
        if not exists:
            found.append({"job_id": job_id, "status": None, "next_run": None, "schedule": None,
                          "working": False, "reason": None, "on_error": None})
            continue
        if next_run is None and deferred:  # due after the end of the running run
            try:
                next_run = float(deferred)
            except ValueError:
                next_run = None
        found.append({"job_id": job_id, "status": status, "next_run": next_run, "schedule": text,
                      "working": any(working), "reason": reason, "on_error": on_error or DIE})
    return found


def _ids() -> list[str]:
    return sorted(RecurringSchedule.get_connection().smembers(KEYS.collection(model=RecurringSchedule._name)))


def _fields(job_ids: list[str], field: str) -> list[str]:
    connection = RecurringSchedule.get_connection()
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(KEYS.hash(model=RecurringSchedule._name, pk=job_id), field)
        return [value or "" for value in (pipe.execute() if job_ids else [])]


@over_shards(lambda found: sorted(concatenated(found)))
def statuses(before: float | None = None) -> list[tuple[str, str, int]]:
    """``(job id, event, timestamp)`` of every schedule, only those older than ``before`` if given."""
    found = []
    job_ids = _ids()
    for job_id, status in zip(job_ids, _fields(job_ids, "status"), strict=True):
        event, _, stamp = status.partition(":")
        number = int(stamp) if stamp.isdigit() else 0
        if event and (before is None or number < before):
            found.append((job_id, event, number))
    return found


@over_shards(lambda found: sorted(concatenated(found)))
def schedules() -> list[tuple[str, str]]:
    """``(job id, schedule)`` of every job id with a schedule (read commands only)."""
    job_ids = _ids()
    return list(zip(job_ids, _fields(job_ids, "schedule"), strict=True))


def run_dispatcher(interval: float = 1.0, timefile: str | None = None, once: bool = False,
                   stop: Any = None) -> int:
    """Dispatch due runs every ``interval`` seconds until HALT or ``stop``; the number dispatched.

    Redis outages are ridden out; ``timefile`` gets the time at each tick, replaced whole (OSError
    if it cannot be written at the first tick, logged afterwards)."""
    import os  # here: this function is the only one of the module to need it

    stop = stop or threading.Event()
    count = 0
    timefile_state = {"written": False, "failing": False}

    def write_time() -> None:
        temporary = f"{timefile}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(temporary, "w") as handle:
                handle.write(f"{int(RecurringSchedule.clock.time())}\n")  # a second that has begun
            os.replace(temporary, timefile)
        except OSError as exc:
            try:
                os.remove(temporary)
            except OSError:
                pass
            if not timefile_state["written"]:
                reason = exc.strerror or exc
                raise OSError(exc.errno, f"cannot write the timefile {timefile}: {reason}") from None
            if not timefile_state["failing"]:
                logger.error("cannot write the timefile %s (%s): dispatching goes on", timefile, exc)
            timefile_state["failing"] = True
            return
        if timefile_state["failing"]:
            logger.warning("the timefile %s is written again", timefile)
        timefile_state.update(written=True, failing=False)

    def tick() -> bool:
        nonlocal count
        dispatched = dispatch()
        if dispatched:
            count += len(dispatched)
            more = f" and {len(dispatched) - 10} more" if len(dispatched) > 10 else ""
            logger.info("dispatched the runs of %s%s", ", ".join(dispatched[:10]), more)
        if timefile:
            write_time()
        return once or control() == HALT

    if once:
        tick()
    else:
        every(interval, tick, stop, BaseJobsModel.get_connection().ping, log_to(logger), "to dispatch")
    return count


def read_timefile(timefile: str | None) -> float | None:
    """The time the dispatcher last wrote in ``timefile`` (None: none).

    A file that cannot be read, or holds no timestamp, is logged and gives None."""
    import math  # here: this function is the only one of the module to need it

    if not timefile:
        return None
    try:
        with open(timefile) as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cannot read the timefile %s (%s): using the current time", timefile, exc)
        return None
    try:
        value: float | None = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        logger.warning("the timefile %s holds no timestamp (%r): using the current time", timefile, text[:40])
        return None
    return value
