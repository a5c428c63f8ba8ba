"""What the dashboard's pages show, read through ``limpyd_jobs.operations``, ``Job.events()``,
``limpyd_jobs.recurring`` and ``limpyd_jobs.pending``: plain data, no Flask, no HTML."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import operations, pending, recurring, shards
from ..constants import LOGGER_NAME
from ..models import Error, Queue
from ..operations.reads import last_errors as _last_errors
from ..protocol import KEYS
from ..utils import to_utc

logger = logging.getLogger(f"{LOGGER_NAME}.dashboard")

#: The throughput sparkline: successes per bucket over the last WINDOW seconds (whole minutes).
THROUGHPUT_WINDOW = 3600
THROUGHPUT_BUCKETS = 30
#: Failures shown on the overview, and read per queue to find them.
RECENT_FAILURES = 10


@dataclass
class Throughput:
    """Jobs that succeeded per bucket of ``bucket_seconds``, the oldest bucket first, up to ``now``."""

    buckets: list[int]
    bucket_seconds: int
    now: datetime

    @property
    def total(self) -> int:
        return sum(self.buckets)

    @property
    def since(self) -> datetime:
        return self.now - timedelta(seconds=self.bucket_seconds * len(self.buckets))

    def points(self, width: int = 240, height: int = 36) -> str:
        """The buckets as the ``points`` of an SVG polyline of this size (numbers only)."""
        top = max(self.buckets, default=0) or 1
        step = width / max(len(self.buckets) - 1, 1)
        return " ".join(f"{index * step:.1f},{height - 2 - (count / top) * (height - 4):.1f}"
                        for index, count in enumerate(self.buckets))

    def as_dict(self) -> dict[str, Any]:
        return {"buckets": self.buckets, "bucket_seconds": self.bucket_seconds, "total": self.total,
                "since": self.since.isoformat(), "points": self.points()}


def throughput(now: datetime, queue_model: type[Queue] = Queue, window: int = THROUGHPUT_WINDOW,
               buckets: int = THROUGHPUT_BUCKETS) -> Throughput:
    """Successes per bucket over the last ``window`` seconds (the minute of ``now`` last), from
    the per-minute counts the end scripts keep (``KEYS.throughput``): one round trip (a shard)."""
    minutes = window // 60
    per_bucket = max(minutes // buckets, 1)
    last = now.astimezone(timezone.utc).replace(second=0, microsecond=0)
    first = last - timedelta(minutes=minutes - 1)
    hours = sorted({(first + timedelta(minutes=step)).strftime("%Y-%m-%d %H") for step in range(minutes)})

    def read() -> list[dict[str, str]]:
        with queue_model.get_connection().pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(KEYS.throughput(hour=hour))
            return pipe.execute()

    counted = [0] * buckets
    for hour, values in ((hour, values) for read_there in shards.across(read)  # sharded: every shard's
                         for hour, values in zip(hours, read_there, strict=True)):
        for minute, count in values.items():
            if not (minute.isdigit() and count.lstrip("-").isdigit()):
                continue  # not what the scripts write: left out
            try:
                moment = datetime.strptime(f"{hour}:{minute}", "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
            except ValueError:
                continue
            if first <= moment <= last:
                index = int((moment - first).total_seconds() // 60) // per_bucket
                counted[min(index, buckets - 1)] += max(int(count), 0)
    return Throughput(counted, per_bucket * 60, now)


@dataclass
class Failure:
    """A failed job (ERROR) and its last error."""

    job: operations.JobInfo
    error: operations.ErrorInfo | None

    @property
    def when(self) -> datetime | None:
        return (self.error.when if self.error else None) or to_utc(self.job.fields.get("end"))


def recent_failures(counts: list[operations.QueueCounts], limit: int = RECENT_FAILURES,
                    queue_model: type[Queue] = Queue, error_model: type[Error] = Error) -> list[Failure]:
    """The latest failed jobs of every queue (at most ``limit``), the latest first."""
    names = [queue.name for queue in counts if queue.error]
    return [Failure(info, error) for info, error in
            operations.recent_failures(names, limit, error_model, queue_model)]


def last_errors(jobs: list[operations.JobInfo], error_model: type[Error] = Error) -> dict[str, str]:
    """Ident -> ``Type: message`` of the last error of each of these jobs (none: left out)."""
    found = {}
    for info, error in zip(jobs, _last_errors(jobs, error_model), strict=True):
        if error is not None:
            found[info.ident] = f"{error.fields.get('type', '')}: {error.fields.get('message', '')}"
    return found


def newest_errors(info: operations.JobInfo, error_model: type[Error] = Error,
                  queue_model: type[Queue] = Queue) -> list[operations.ErrorInfo]:
    """A job's errors, the newest first: the one that explains its status now is on top."""
    return list(reversed(operations.job_errors(info, error_model, queue_model)))


@dataclass
class Event:
    """One entry of a job's history: what happened, when, and its other details."""

    event: str
    at: datetime | None
    details: dict[str, Any] = field(default_factory=dict)

    def details_text(self) -> list[tuple[str, str]]:
        """The details as (name, text) pairs, texts as they are, other values as JSON."""
        return [(name, value if isinstance(value, str) else json.dumps(value, default=str))
                for name, value in sorted(self.details.items())]


def job_events(info: operations.JobInfo) -> list[Event]:
    """A job's whole history, oldest first (read without its model: any job's history shows)."""
    events = []
    for entry in operations.job_history(info):
        details = {name: value for name, value in entry.items() if name not in ("event", "at")}
        events.append(Event(str(entry.get("event", "")), to_utc(entry.get("at")), details))
    return events


#: The events of a recurring schedule, in words.
SCHEDULE_EVENTS = {"TML": "scheduled", "ENQ": "queued", "WRK": "running", "STP": "no run left",
                   "BAD": "invalid schedule", "DIE": "last run failed"}


@dataclass
class ScheduleRow:
    """A recurring schedule: its job id, text, status (event and when), next run, and why."""

    job_id: str
    schedule: str
    event: str
    event_at: datetime | None
    next_run: datetime | None
    working: bool
    reason: str

    @property
    def event_text(self) -> str:
        """The event in words (the code itself for one unknown)."""
        return SCHEDULE_EVENTS.get(self.event, self.event)


def schedule_rows() -> list[ScheduleRow]:
    """Every recurring schedule (``recurring.schedules`` and ``tell_all``), by job id: read
    commands only, whatever the ids are."""
    found = recurring.schedules()
    rows = []
    for (job_id, text), told in zip(found, recurring.tell_all([job_id for job_id, _ in found]),
                                    strict=True):
        event, _, stamp = (told.get("status") or "").partition(":")
        rows.append(ScheduleRow(job_id=job_id, schedule=text, event=event,
                                event_at=to_utc(int(stamp)) if stamp.isdigit() else None,
                                next_run=to_utc(told.get("next_run")), working=bool(told.get("working")),
                                reason=told.get("reason") or ""))
    return rows


@dataclass
class PendingRow:
    """A pending job (``limpyd_jobs.pending``): its id, when it is due, and its data."""

    job_id: str
    due: datetime | None
    data: list[tuple[str, str]]


def pending_rows(offset: int, limit: int) -> tuple[list[PendingRow], bool]:
    """A page of the pending jobs, the first due first (read only: nothing is taken), and
    whether more follow."""
    page = pending.scheduled_page(offset, limit + 1)
    rows = []
    for job_id, due in page[:limit]:
        details = pending.job_details(job_id)
        data = [(_shown(name), _shown(value))
                for name, value in sorted(details.items(), key=lambda item: str(item[0]))
                if name not in ("id", "schedule_at")]
        rows.append(PendingRow(_shown(job_id), to_utc(due), data))
    return rows, len(page) > limit


def _shown(value: Any) -> str:
    """A value of pending data as text (bytes that do not decode: their repr)."""
    return value if isinstance(value, str) else repr(value)
