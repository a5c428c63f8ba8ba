"""What the dashboard's pages show, read through ``limpyd_jobs.operations``, ``Job.events()``,
``limpyd_jobs.recurring`` and ``limpyd_jobs.pending``: plain data, no Flask, no HTML."""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .. import operations, pending, recurring
from ..constants import LOGGER_NAME
from ..models import Error, Queue
from ..utils import to_utc

logger = logging.getLogger(f"{LOGGER_NAME}.dashboard")

#: The throughput sparkline: successes per bucket over the last WINDOW seconds.
THROUGHPUT_WINDOW = 3600
THROUGHPUT_BUCKETS = 30
#: Successes read per queue for the sparkline at most (the latest ended first).
THROUGHPUT_SAMPLE = 500
#: Failures shown on the overview, and read per queue to find them.
RECENT_FAILURES = 10


@dataclass
class Throughput:
    """Jobs that succeeded per bucket of ``bucket_seconds``, the oldest bucket first, up to ``now``.
    ``partial`` when a queue had more successes in the window than were read."""

    buckets: list[int]
    bucket_seconds: int
    now: datetime
    partial: bool = False

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
                "since": self.since.isoformat(), "partial": self.partial, "points": self.points()}


def throughput(names: list[str], now: datetime, queue_model: type[Queue] = Queue,
               window: int = THROUGHPUT_WINDOW, buckets: int = THROUGHPUT_BUCKETS,
               sample: int = THROUGHPUT_SAMPLE) -> Throughput:
    """Successes per bucket over the last ``window`` seconds, from the ``end`` of the latest
    ``sample`` successes of each queue (``operations.jobs(name, "success")``, latest first)."""
    size = window // buckets
    counted = [0] * buckets
    since = now - timedelta(seconds=size * buckets)
    partial = False
    for name in names:
        try:
            infos = operations.jobs(name, "success", 0, sample, queue_model)
        except operations.UnknownQueue:  # emptied and gone meanwhile
            continue
        ends = [to_utc(info.fields.get("end")) for info in infos]
        for end in ends:
            if end is not None and since <= end <= now:
                counted[min(int((end - since).total_seconds() // size), buckets - 1)] += 1
        oldest = min((end for end in ends if end is not None), default=None)
        if len(infos) == sample and oldest is not None and oldest > since:
            partial = True
    return Throughput(counted, size, now, partial)


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
    found: list[Failure] = []
    for queue in counts:
        if queue.error:
            try:
                found += [Failure(info, error) for info, error in
                          operations.failures(queue.name, 0, limit, error_model, queue_model)]
            except operations.UnknownQueue:
                continue
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(found, key=lambda failure: failure.when or epoch, reverse=True)[:limit]


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


def schedule_rows() -> list[ScheduleRow]:
    """Every recurring schedule (``recurring.schedules`` and ``tell``), by job id."""
    rows = []
    for job_id, text in recurring.schedules():
        told = recurring.tell(job_id)
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
    page = list(itertools.islice(pending.scheduled_jobs(with_times=True), offset, offset + limit + 1))
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
