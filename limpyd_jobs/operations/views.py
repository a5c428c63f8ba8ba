"""What the reads return: queues' counts, jobs, errors and workers as plain dataclasses."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .. import shards
from ..models import Job
from ..protocol import STATUSES
from ..utils import str_to_datetime


@dataclass
class QueueCounts:
    """The jobs of a queue name, all priorities, by state (jobs, not list entries)."""

    name: str
    priorities: list[int]
    waiting: int = 0
    delayed: int = 0
    running: int = 0
    success: int = 0
    error: int = 0
    paused: bool = False
    #: Jobs of the queue whose status is CANCELED (None: not counted, see ``all_counts``).
    canceled: int | None = None
    #: Jobs that ever succeeded in the queue (the scripts' ``succeeded`` counter).
    succeeded_total: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JobInfo:
    """A job as Redis holds it: its ident, limpyd model name and pk, its fields, the name of its
    queue, and, while a worker runs it, that worker and when it took it."""

    ident: str
    model: str
    pk: str
    fields: dict[str, str] = field(default_factory=dict)
    queue: str = ""
    worker: str = ""
    since: datetime | None = None
    shard: int = 0  # the shard it is in (0 when not sharded)

    @property
    def name(self) -> str:
        """How operations name it: its ident, with ``@shard`` when sharded (an ident is per shard)."""
        return f"{self.ident}@{self.shard}" if shards.sharded() else self.ident

    @property
    def status(self) -> str:
        """The name of its status (``WAITING``...), ``UNKNOWN`` for a value that is none."""
        return STATUSES.by_value(self.fields.get("status", ""), "UNKNOWN")

    @property
    def identifier(self) -> str:
        return self.fields.get("identifier", "")

    @property
    def model_repr(self) -> str:
        return self.ident.rpartition(":")[0]

    def job(self) -> Job:
        """The Job instance (its model must be defined in this process, or be one of limpyd-jobs')."""
        if not shards.sharded():
            return Job.get_from_ident(self.ident, lazy=True)
        with shards.using(self.shard):
            return Job.get_from_ident(self.ident, lazy=True)

    def as_dict(self) -> dict[str, Any]:
        values = self.fields
        dates = {name: iso(str_to_datetime(values.get(name)))
                 for name in ("added", "start", "end", "delayed_until")}
        return {"ident": self.ident, "identifier": self.identifier, "status": self.status,
                "queue": self.queue, "priority": number(values.get("priority")),
                "tries": number(values.get("tries")), **dates, "worker": self.worker or None,
                "since": iso(self.since), "fields": dict(values),
                **({"shard": self.shard} if shards.sharded() else {})}


@dataclass
class ErrorInfo:
    """One failed run of a job (an ``Error``)."""

    pk: str
    fields: dict[str, str]

    @property
    def when(self) -> datetime | None:
        return str_to_datetime(self.fields.get("date_time"))

    def as_dict(self) -> dict[str, Any]:
        values = self.fields
        return {"date_time": iso(self.when), "type": values.get("type", ""), "code": values.get("code"),
                "message": values.get("message", ""), "traceback": values.get("traceback"),
                "queue": values.get("queue_name", ""), "identifier": values.get("identifier", "")}


@dataclass
class RunningJob:
    """A job in a worker's running set, and when the worker took it."""

    ident: str
    since: datetime | None
    #: The job's identifier, what the people who queued it know it by.
    identifier: str = ""
    shard: int = 0  # the shard of the worker (and of the job)

    @property
    def name(self) -> str:
        """How operations name the job: its ident, with ``@shard`` when sharded."""
        return f"{self.ident}@{self.shard}" if shards.sharded() else self.ident


@dataclass
class WorkerState:
    """A registered worker: its details, last heartbeat, whether it still beats, what it runs,
    and whether it was asked to stop."""

    id: str
    host: str
    pid: int | None
    queues: list[str]
    mode: str
    started: datetime | None
    last_beat: datetime | None
    alive: bool
    running: list[RunningJob] = field(default_factory=list)
    stopping: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "queues": self.queues, "mode": self.mode,
                "started": iso(self.started), "last_beat": iso(self.last_beat), "alive": self.alive,
                "stopping": self.stopping,
                "running": [{"ident": job.ident, "since": iso(job.since)} for job in self.running]}


@dataclass
class Health:
    """``ok`` when Redis answers and the workers asked for beat; ``message`` says why not."""

    ok: bool
    redis: bool
    message: str
    alive_workers: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def number(value: str | None) -> int | float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number
