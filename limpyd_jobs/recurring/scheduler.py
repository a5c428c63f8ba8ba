"""Recurring jobs as limpyd models, run by ordinary workers (redbike-style).

    from limpyd_jobs.recurring.scheduler import set_schedule, dispatch

    set_schedule("report:daily", "DTSTART;TZID=Europe/Paris:20260101T090000\\nRRULE:FREQ=DAILY")
    dispatch()  # from a loop or a command: moves due runs into their queues

Each run is a ``RecurringJob`` (an ordinary ``Job``; its identifier is the schedule's job id)
in the queue named after the job id's last ``:`` part, unless set otherwise. After a run, the
job's hooks put the next occurrence in the timeline (RRULE), back in the queue (CONTINUE, or
after the number of seconds the run returned), or nowhere (NOW, AT, STOP; ``StopWork`` raised:
schedule set to STOP; ``UnsetJob``: schedule removed; any other error: status DIE).
Statuses read ``EVENT:TIMESTAMP``: TML (in the timeline), ENQ (queued), WRK (running), BAD
(invalid schedule), STP (no run left), DIE (the run failed; its ``reason`` says why).

A schedule is in one place at a time: the timeline, its queue (a run not started), or running. A
schedule set anew replaces the old one wherever it stands: a run not started is canceled, and
while a run is running the next run waits for its end (whatever the end: success, error, timeout).
Runs are never retried by the worker (``requeue_times = 0``), and each has a timeout: the
schedule's, else ``DEFAULT_TIMEOUT`` seconds (10, as redbike's).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Any

from limpyd import fields

from .. import orm
from ..constants import LOGGER_NAME
from ..due import DueSet
from ..exceptions import LimpydJobsException
from ..models import BaseJobsModel, Job, Queue
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
        # DIE, unless the schedule was set anew meanwhile: then its deferred run is placed
        _placed(job_id, version, ScheduleEvent.DIE, reason=f"{type(exception).__name__}: {exception}")


def default_queue_name(job_id: str) -> str:
    """The queue of a job id's runs: the part after its last ``:`` (the whole id without one)."""
    return job_id.rsplit(":", 1)[-1]


def timeline() -> DueSet:
    """The timeline: job id -> when its next run is due."""
    return DueSet(Timeline.get_connection(), KEYS.field(model=Timeline._name, pk=TIMELINE_PK, field="runs"),
                  Timeline.clock)


def _mark(job_id: str, event: ScheduleEvent, version: str | None = None, next_run: float | None = None,
          reason: str = "") -> schedule_mark.Marked:
    """Record a schedule's event (and place its next run) if the schedule is still ``version``;
    else place the run a newer schedule deferred until the end of this one."""
    return schedule_mark.call(
        BaseJobsModel.database, schedule_model=RecurringSchedule._name, timeline_model=Timeline._name,
        timeline_pk=TIMELINE_PK, job_id=job_id, version=version or "", event=event.value,
        now_int=int(RecurringSchedule.clock.time()), next_run="" if next_run is None else next_run,
        reason=reason)


def set_schedule(job_id: str, schedule: str | None, after: float | None = None,
                 queue_name: str | None = None, priority: int = 0, tz: str | None = None,
                 timeout: float | None = None) -> str:
    """Set (or replace) the schedule of ``job_id`` and enter its next run at once: in the
    timeline, straight in its queue if due, or after the end of a run running now. ``None``
    unsets. ``timeout``: seconds each run may take (default: ``DEFAULT_TIMEOUT``). Returns the
    status set. InvalidValue for a job id or queue name the workers cannot use (the job id's part
    after its last ``:`` names the queue when ``queue_name`` is not given)."""
    if schedule is None:
        unset_schedule(job_id)
        return "UNSET"
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
              ("timeout", "" if timeout is None else clean_timeout(timeout), 0))
    written = schedule_set.call(
        BaseJobsModel.database, schedule_model=RecurringSchedule._name, timeline_model=Timeline._name,
        timeline_pk=TIMELINE_PK, job_model=RecurringJob._name, model_repr=RecurringJob.get_model_repr(),
        job_id=job_id, next_run="" if next_run is None else next_run, event=event.value, now_int=int(now),
        reason=reason, fields=[part for value in values for part in value])
    if next_run is not None and next_run <= now and not written.deferred:
        dispatch()
        return ScheduleEvent.ENQ.value
    return event.value


def unset_schedule(job_id: str) -> None:
    """Remove a schedule: out of the timeline, its waiting run canceled; a running one ends
    without being rescheduled."""
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
    """After a run: place the next occurrence of the job's schedule (None if unset, or if the
    schedule was set anew while the run ran: the next run it deferred is placed then)."""
    if not RecurringSchedule.exists(pk=job_id):
        return None
    if not _same_version(job_id, version):
        return _placed(job_id, version, ScheduleEvent.TML)
    text, tz, start = RecurringSchedule(job_id).hmget("schedule", "tz", "start")
    try:
        schedule = parse(text, tz or None, start=float(start) if start else None)
    except BadSchedule:
        return _placed(job_id, version, ScheduleEvent.BAD)
    now = RecurringSchedule.clock.time()
    if schedule.kind == CONTINUE:
        return _placed(job_id, version, ScheduleEvent.TML, now + backoff if backoff else now)
    next_run = schedule.next_run(now) if schedule.repeats else None  # NOW, AT and STOP run once at most
    if next_run is None:
        return _placed(job_id, version, ScheduleEvent.STP)
    return _placed(job_id, version, ScheduleEvent.TML, next_run)


def _placed(job_id: str, version: str | None, event: ScheduleEvent, next_run: float | None = None,
            reason: str = "") -> str | None:
    """Mark the event and place the next run (or, if the schedule changed meanwhile, the run it
    deferred); dispatch it if it is due; the status set (None if the schedule changed)."""
    marked = _mark(job_id, event, version, next_run, reason)
    placed = next_run if marked.marked else marked.placed
    due = placed is not None and placed <= RecurringSchedule.clock.time()
    if due:
        dispatch()
    if not marked.marked:
        return None
    return ScheduleEvent.ENQ.value if due else event.value


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
    """``tell`` of each of these job ids, read in two round trips for all (read commands only)."""
    connection = RecurringSchedule.get_connection()
    model, job_model = RecurringSchedule._name, RecurringJob._name
    runs = timeline().key
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.sismember(KEYS.collection(model=model), job_id)
            pipe.hmget(KEYS.hash(model=model, pk=job_id), "schedule", "status", "reason", "deferred")
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
        exists, (text, status, reason, deferred), next_run, _ = read[4 * number:4 * number + 4]
        working = [next(statuses) == STATUSES.RUNNING for _ in queued[number]]
        if not exists:
            found.append({"job_id": job_id, "status": None, "next_run": None, "schedule": None,
                          "working": False, "reason": None})
            continue
        if next_run is None and deferred:  # due after the end of the running run
            try:
                next_run = float(deferred)
            except ValueError:
                next_run = None
        found.append({"job_id": job_id, "status": status, "next_run": next_run, "schedule": text,
                      "working": any(working), "reason": reason})
    return found


def _ids() -> list[str]:
    return sorted(RecurringSchedule.get_connection().smembers(KEYS.collection(model=RecurringSchedule._name)))


def _fields(job_ids: list[str], field: str) -> list[str]:
    connection = RecurringSchedule.get_connection()
    with connection.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hget(KEYS.hash(model=RecurringSchedule._name, pk=job_id), field)
        return [value or "" for value in (pipe.execute() if job_ids else [])]


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


def schedules() -> list[tuple[str, str]]:
    """``(job id, schedule)`` of every job id with a schedule (read commands only)."""
    job_ids = _ids()
    return list(zip(job_ids, _fields(job_ids, "schedule"), strict=True))


def run_dispatcher(interval: float = 1.0, timefile: str | None = None, once: bool = False,
                   stop: Any = None) -> int:
    """Dispatch due runs every ``interval`` seconds until HALT (or ``stop`` is set); write the
    current time into ``timefile`` at each tick. Returns the number of runs dispatched.

    Redis outages are ridden out: logged, then dispatching goes on as soon as Redis answers. The
    timefile is replaced whole (a reader never finds it half written); if it cannot be written at
    the first tick, OSError is raised; later, that is logged and dispatching goes on."""
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
    """The time the dispatcher last wrote in ``timefile``; None when there is no such file (or
    none is given). A file that cannot be read, or holds no timestamp, is logged, and gives None."""
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
