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
(invalid schedule), STP (no run left), DIE (the run failed).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from limpyd import fields

from .. import lua
from ..constants import STATUSES
from ..exceptions import LimpydJobsException
from ..models import BaseJobsModel, Job, Queue
from ..utils import datetime_to_str, utcnow
from ..workers import CONTROL_KEY
from .rules import CONTINUE, BadSchedule, parse

TIMELINE_PK = "all"


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


class Timeline(BaseJobsModel):
    """The next run of every scheduled job id (one instance, ``all``)."""

    name = fields.PKField()
    runs = fields.SortedSetField()


class RecurringJob(Job):
    """One run of a schedule: its identifier is the job id; its hooks reschedule it."""

    schedule_version = fields.InstanceHashField()

    def on_started(self, queue: Queue) -> None:
        _set_status(self.identifier.hget(), "WRK")

    def on_success(self, queue: Queue, result: Any) -> None:
        backoff = result if isinstance(result, (int, float)) and not isinstance(result, bool) else None
        reschedule(self.identifier.hget(), backoff=backoff, version=self.schedule_version.hget())

    def on_error(self, queue: Queue, exception: BaseException, traceback: str | None) -> None:
        job_id = self.identifier.hget()
        if not _same_version(job_id, self.schedule_version.hget()):
            return  # set anew while this run ran: the new schedule is already in place
        if isinstance(exception, StopWork):
            set_schedule(job_id, "STOP")
        elif isinstance(exception, UnsetJob):
            unset_schedule(job_id)
        else:
            _set_status(job_id, "DIE")


def default_queue_name(job_id: str) -> str:
    """The queue of a job id's runs: the part after its last ``:`` (the whole id without one)."""
    return job_id.rsplit(":", 1)[-1]


def _timeline() -> Timeline:
    timeline = Timeline.lazy_connect(TIMELINE_PK)
    timeline.get_connection().sadd(f"{Timeline._name}:collection", TIMELINE_PK)
    return timeline


def _set_status(job_id: str, event: str) -> None:
    key = f"{RecurringSchedule._name}:{job_id}:hash"
    connection = RecurringSchedule.get_connection()
    if connection.exists(key):
        connection.hset(key, "status", f"{event}:{int(time.time())}")


def set_schedule(job_id: str, schedule: str | None, after: float | None = None,
                 queue_name: str | None = None, priority: int = 0, tz: str | None = None) -> str:
    """Set (or replace) the schedule of ``job_id`` and enter its next run at once: in the
    timeline, or straight in its queue if due. ``None`` unsets. Returns the status set."""
    if schedule is None:
        unset_schedule(job_id)
        return "UNSET"
    after = time.time() if after is None else after
    stored = RecurringSchedule.get_or_connect(job_id=job_id)[0]
    for name, value in (("schedule", schedule), ("tz", tz or ""), ("priority", int(priority)),
                        ("queue_name", queue_name or default_queue_name(job_id)), ("start", after)):
        stored.get_field(name).hset(value)
    version = stored.get_connection().hincrby(stored.key, "version", 1)
    timeline = _timeline()
    try:
        next_run = parse(schedule, tz or None, start=after).next_run(after)
    except BadSchedule:
        timeline.runs.zrem(job_id)
        _set_status(job_id, "BAD")
        return "BAD"
    return _place(job_id, next_run, version)


def _place(job_id: str, next_run: float | None, version: int) -> str:
    """Put a job's next run in the timeline, or in its queue if due; record the status."""
    timeline = _timeline()
    if next_run is None:
        timeline.runs.zrem(job_id)
        _set_status(job_id, "STP")
        return "STP"
    timeline.runs.zadd({job_id: next_run})
    if next_run <= time.time():
        dispatch()
        return "ENQ"
    _set_status(job_id, "TML")
    return "TML"


def unset_schedule(job_id: str) -> None:
    """Remove a schedule: out of the timeline, its waiting run canceled; a running one ends
    without being rescheduled."""
    _timeline().runs.zrem(job_id)
    for job in RecurringJob.collection(identifier=job_id, queued=1).instances():
        if job.status.hget() in (STATUSES.WAITING, STATUSES.DELAYED):
            queue_key = job.queue_key.hget()
            connection = job.get_connection()
            connection.lrem(f"{queue_key}:waiting", 0, job.ident)
            connection.zrem(f"{queue_key}:delayed", job.ident)
            job.status.hset(STATUSES.CANCELED)
            job.queued.hdel()
    if RecurringSchedule.exists(pk=job_id):
        RecurringSchedule(job_id).delete()


def _same_version(job_id: str, version: str | None) -> bool:
    """Whether the schedule is still the one a run was dispatched for (True if unknown)."""
    current = RecurringSchedule.get_connection().hget(f"{RecurringSchedule._name}:{job_id}:hash", "version")
    return version is None or current is None or str(current) == str(version)


def reschedule(job_id: str, backoff: float | None = None, version: str | None = None) -> str | None:
    """After a run: place the next occurrence of the job's schedule (None if unset, or if the
    schedule was set anew while the run ran: that set placed it already)."""
    if not RecurringSchedule.exists(pk=job_id) or not _same_version(job_id, version):
        return None
    stored = RecurringSchedule(job_id)
    text, tz, version, start = stored.hmget("schedule", "tz", "version", "start")
    try:
        schedule = parse(text, tz or None, start=float(start) if start else None)
    except BadSchedule:
        _set_status(job_id, "BAD")
        return "BAD"
    now = time.time()
    if schedule.kind == CONTINUE:
        return _place(job_id, now + backoff if backoff else now, int(version or 0))
    if not schedule.repeats:  # NOW, AT and STOP run once at most
        _set_status(job_id, "STP")
        return "STP"
    return _place(job_id, schedule.next_run(now), int(version or 0))


def dispatch(now: float | None = None, limit: int = 1000, queue_model: type[Queue] = Queue) -> list[str]:
    """Move the runs that are due into their queues (atomic: safe on several hosts at once)."""
    moment = utcnow() if now is None else datetime.fromtimestamp(now, timezone.utc)
    return lua.dispatch_due(BaseJobsModel.database, args=[
        _timeline().runs.key, RecurringSchedule._name, RecurringJob._name, RecurringJob.get_model_repr(),
        queue_model._name, datetime_to_str(moment), moment.timestamp(), limit, int(moment.timestamp()),
    ])


def tell(job_id: str) -> dict[str, Any]:
    """What is known of a job id: status, next run, schedule, and whether a run is working."""
    if not RecurringSchedule.exists(pk=job_id):
        return {"job_id": job_id, "status": None, "next_run": None, "schedule": None, "working": False}
    text, status = RecurringSchedule(job_id).hmget("schedule", "status")
    next_run = _timeline().runs.zscore(job_id)
    working = any(job.status.hget() == STATUSES.RUNNING
                  for job in RecurringJob.collection(identifier=job_id, queued=1).instances())
    return {"job_id": job_id, "status": status, "next_run": next_run, "schedule": text, "working": working}


HALT = "HALT"


def control(command: str | None = None) -> str | None:
    """``control("HALT")`` makes dispatchers and workers stop after their current task;
    ``control("CLEAR")`` lifts it; ``control()`` tells the current command (or None)."""
    connection = BaseJobsModel.get_connection()
    if command is None:
        return connection.get(CONTROL_KEY)
    command = command.upper()
    if command == "CLEAR":
        connection.delete(CONTROL_KEY)
        return None
    if command != HALT:
        raise ValueError(f"unknown control command {command!r}: use HALT or CLEAR")
    connection.set(CONTROL_KEY, HALT)
    for key in connection.scan_iter(match="*:wakeup:*"):  # idle workers: look now
        connection.rpush(key, "1")
    return HALT


def statuses(before: float | None = None) -> list[tuple[str, str, int]]:
    """``(job id, event, timestamp)`` of every schedule, only those older than ``before`` if given."""
    found = []
    for job_id in sorted(RecurringSchedule.collection()):
        status = RecurringSchedule(job_id).status.hget() or ""
        event, _, stamp = status.partition(":")
        if event and (before is None or int(stamp or 0) < before):
            found.append((job_id, event, int(stamp or 0)))
    return found


def schedules() -> list[tuple[str, str]]:
    """``(job id, schedule)`` of every job id with a schedule."""
    return [(job_id, RecurringSchedule(job_id).schedule.hget() or "")
            for job_id in sorted(RecurringSchedule.collection())]


def run_dispatcher(interval: float = 1.0, timefile: str | None = None, once: bool = False,
                   stop: Any = None) -> int:
    """Dispatch due runs every ``interval`` seconds until HALT (or ``stop`` is set); write the
    current time into ``timefile`` at each tick. Returns the number of runs dispatched."""
    import threading

    stop = stop or threading.Event()
    count = 0
    while True:
        count += len(dispatch())
        if timefile:
            with open(timefile, "w") as handle:
                handle.write(f"{time.time():.0f}\n")
        if once or control() == HALT or stop.wait(interval):
            return count


def read_timefile(timefile: str | None) -> float | None:
    """The time the dispatcher last wrote, or None if there is no such file."""
    try:
        with open(timefile) as handle:
            return float(handle.read().strip())
    except (TypeError, OSError, ValueError):
        return None
