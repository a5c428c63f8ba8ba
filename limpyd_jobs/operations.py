"""Operating limpyd-jobs: what an operator asks of queues, jobs and workers, and what they do.

Reads (``counts``, ``jobs``, ``find_job``, ``job_errors``, ``workers``, ``health``...) send read
commands only, in pipelines: they write nothing and send no script. Writes (``cancel``,
``requeue``, ``requeue_failed``, ``empty``, ``pause``, ``resume``, ``stop_workers``) are one Lua
script each (``protocol/scripts``): atomic while workers run, and safe to send again after a
lost reply.

A queue NAME stands for every Queue of that name, one per priority (the negative priorities
retries make included). Jobs are read through the job models registry (``KEYS.job_models``) and
the Job models of this process, with no import: an ident or a Redis value never decides what is
imported.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from redis.exceptions import RedisError

from .constants import LOGGER_NAME
from .exceptions import InvalidIdent, LimpydJobsException
from .models import Error, Job, Queue, history_entries
from .protocol import KEYS, STATUSES
from .protocol.scripts import cancel_job, empty_queue, pause_queue, retry_job
from .protocol.scripts import requeue_failed as requeue_failed_script
from .protocol.scripts import stop_workers as stop_workers_script
from .utils import datetime_to_str, str_to_datetime
from .validation import clean_queue_name, parse_priority

logger = logging.getLogger(LOGGER_NAME)

__all__ = [
    "STATES", "HEARTBEAT_TIMEOUT", "OperationError", "UnknownQueue", "UnknownJob", "UnknownWorker",
    "JobStateError", "QueueCounts", "JobInfo", "ErrorInfo", "RunningJob", "WorkerState", "Health",
    "queue_names", "counts", "all_counts", "jobs", "find_job", "job_errors", "job_history", "failures",
    "cancel", "requeue", "requeue_failed", "empty", "pause", "resume", "paused", "workers", "stop_workers",
    "health",
]

#: The states ``jobs`` lists, as ``limpyd-jobs jobs --state`` names them.
STATES = ("waiting", "delayed", "running", "success", "error", "canceled")
#: Seconds without a heartbeat after which a worker is dead (the worker's default).
HEARTBEAT_TIMEOUT = 30.0
#: How long a stop request waits for its worker to read it (a worker that died never does).
STOP_REQUEST_TTL = 7 * 24 * 3600.0
#: Commands sent in one pipeline at most.
_CHUNK = 500
_IDENT = re.compile(r"^([A-Za-z_][\w.]*):(\w+)$")
#: The statuses of a job a worker runs: RUNNING, or CANCELED while it ran (its end is to come).
_RUNS = (STATUSES.RUNNING, STATUSES.CANCELED)


class OperationError(LimpydJobsException):
    """An operation cannot be done as asked."""


class UnknownQueue(OperationError, LookupError):
    """No queue has this name."""


class UnknownJob(OperationError, LookupError):
    """No job is found for this ident or ``QUEUE/identifier``, or its model is not registered."""


class UnknownWorker(OperationError, LookupError):
    """No registered worker has this id."""


class JobStateError(OperationError):
    """The job's status does not allow the operation (canceling a finished job...)."""


# --- what the reads return


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
        return Job.get_from_ident(self.ident, lazy=True)

    def as_dict(self) -> dict[str, Any]:
        values = self.fields
        dates = {name: _iso(str_to_datetime(values.get(name)))
                 for name in ("added", "start", "end", "delayed_until")}
        return {"ident": self.ident, "identifier": self.identifier, "status": self.status,
                "queue": self.queue, "priority": _number(values.get("priority")),
                "tries": _number(values.get("tries")), **dates, "worker": self.worker or None,
                "since": _iso(self.since), "fields": dict(values)}


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
        return {"date_time": _iso(self.when), "type": values.get("type", ""), "code": values.get("code"),
                "message": values.get("message", ""), "traceback": values.get("traceback"),
                "queue": values.get("queue_name", ""), "identifier": values.get("identifier", "")}


@dataclass
class RunningJob:
    """A job in a worker's running set, and when the worker took it."""

    ident: str
    since: datetime | None


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
    last_beat: datetime
    alive: bool
    running: list[RunningJob] = field(default_factory=list)
    stopping: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "pid": self.pid, "queues": self.queues, "mode": self.mode,
                "started": _iso(self.started), "last_beat": _iso(self.last_beat), "alive": self.alive,
                "stopping": self.stopping,
                "running": [{"ident": job.ident, "since": _iso(job.since)} for job in self.running]}


@dataclass
class Health:
    """``ok`` when Redis answers and the workers asked for beat; ``message`` says why not."""

    ok: bool
    redis: bool
    message: str
    alive_workers: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _number(value: str | None) -> int | float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def _timestamp(score: float | None) -> datetime | None:
    return datetime.fromtimestamp(score, timezone.utc) if score is not None else None


# --- reading


@dataclass(frozen=True)
class _QueueRef:
    """One Queue (a name at a priority) and its keys."""

    name: str
    priority: int
    pk: str
    key: str

    def list_key(self, name: str) -> str:
        return KEYS.queue_list(queue=self.key, list=name)


class _Reader:
    """Reads, with read commands only, in pipelines; what it read once it keeps (one operation)."""

    def __init__(self, queue_model: type[Queue]) -> None:
        self.queue_model = queue_model
        self.connection = queue_model.get_connection()
        self._models: dict[str, str] | None = None
        self._queue_names: dict[str, str] = {}
        self._running: list[tuple[str, str, float]] | None = None

    def each(self, items: Sequence[Any], command: Callable[[Any, Any], Any]) -> list[Any]:
        """``command(pipe, item)`` for each item, in pipelines; the replies, in order."""
        replies: list[Any] = []
        for start in range(0, len(items), _CHUNK):
            with self.connection.pipeline(transaction=False) as pipe:
                for item in items[start:start + _CHUNK]:
                    command(pipe, item)
                replies += pipe.execute()
        return replies

    def models(self) -> dict[str, str]:
        """Job model repr -> limpyd model name: the registry, and the Job models of this process."""
        if self._models is None:
            known = {model.get_model_repr(): model._name for model in _job_models()}
            self._models = {**known, **self.connection.hgetall(KEYS.job_models())}
        return self._models

    def model_reprs(self) -> dict[str, str]:
        """limpyd model name -> the Job model repr of its idents (this process's first)."""
        reprs: dict[str, str] = {}
        for model_repr, model in self.models().items():
            reprs.setdefault(model, model_repr)
        return reprs

    def locate(self, ident: str) -> tuple[str, str] | None:
        """(limpyd model name, pk) of an ident, None if it is malformed or its model unknown."""
        model_repr, sep, pk = ident.rpartition(":")
        model = self.models().get(model_repr) if sep and pk else None
        return (model, pk) if model else None

    def queues(self, name: str | None = None) -> list[_QueueRef]:
        """The queues of a name (all if None), highest priority first, then by name."""
        model = self.queue_model._name
        if name is None:
            pks = sorted(self.connection.smembers(KEYS.collection(model=model)))
        else:
            pks = sorted(self.connection.smembers(KEYS.index(model=model, field="name", value=name)))
        values = self.each(pks, lambda pipe, pk: pipe.hmget(KEYS.hash(model=model, pk=pk),
                                                            "name", "priority"))
        found = []
        for pk, (queue_name, priority) in zip(pks, values, strict=True):
            try:
                number = parse_priority(priority or 0)
            except ValueError:
                logger.warning("queue %s:%s has a malformed priority %r: left out", model, pk, priority)
                continue
            if queue_name is not None and (name is None or queue_name == name):
                key = KEYS.queue(model=model, pk=pk)
                self._queue_names[key] = queue_name
                found.append(_QueueRef(queue_name, number, pk, key))
        return sorted(found, key=lambda queue: (-queue.priority, queue.name, int(queue.pk)
                                                if queue.pk.isdigit() else 0))

    def queues_of(self, name: str) -> list[_QueueRef]:
        """The queues of a name; UnknownQueue if there is none."""
        found = self.queues(clean_queue_name(name))
        if not found:
            raise UnknownQueue(f"no queue named {name!r}")
        return found

    def queue_name(self, queue_key: str | None) -> str:
        """The name of the queue a job's ``queue_key`` names ('' if none)."""
        if not queue_key:
            return ""
        if queue_key not in self._queue_names:
            model, _, pk = queue_key.rpartition(":")
            self._queue_names[queue_key] = self.connection.hget(KEYS.hash(model=model, pk=pk), "name") or ""
        return self._queue_names[queue_key]

    def infos(self, idents: Sequence[str], keep_unknown: bool = False) -> list[JobInfo]:
        """The jobs of these idents whose model is known and whose job exists (``keep_unknown``:
        the others too, without fields: status UNKNOWN)."""
        located = [(ident, self.locate(ident)) for ident in idents]
        known = [(ident, where) for ident, where in located if where is not None]
        hashes = self.each(known, lambda pipe, item: pipe.hgetall(KEYS.hash(model=item[1][0],
                                                                           pk=item[1][1])))
        found = dict(zip((ident for ident, _ in known), hashes, strict=True))
        infos = []
        for ident, where in located:
            values = found.get(ident) or {}
            if values or keep_unknown:
                model, pk = where or ("", ident.rpartition(":")[2])
                infos.append(JobInfo(ident, model, pk, values, self.queue_name(values.get("queue_key"))))
        return infos

    def running(self) -> list[tuple[str, str, float]]:
        """(ident, worker, taken at) of every job in the running set of a registered worker."""
        if self._running is None:
            ids = self.connection.zrange(KEYS.workers(), 0, -1)
            sets = self.each(ids, lambda pipe, worker: pipe.zrange(KEYS.running(worker=worker), 0, -1,
                                                                   withscores=True))
            self._running = [(ident, worker, score) for worker, members in zip(ids, sets, strict=True)
                             for ident, score in members]
        return self._running

    def running_of(self, queues: list[_QueueRef]) -> list[JobInfo]:
        """The jobs of these queues a registered worker runs (RUNNING, or CANCELED while it runs:
        its end is to come), the oldest taken first."""
        keys = {queue.key for queue in queues}
        taken = {ident: (worker, score) for ident, worker, score in self.running()}
        found = []
        for info in self.infos(list(taken)):
            if info.fields.get("status") in _RUNS and info.fields.get("queue_key") in keys:
                info.worker, score = taken[info.ident]
                info.since = _timestamp(score)
                found.append(info)
        return sorted(found, key=lambda info: taken[info.ident][1])

    def finished(self, queues: list[_QueueRef], list_name: str, status: str) -> list[tuple[str, str]]:
        """(ident, end) of the jobs of these queues' ``success`` or ``errors`` lists whose status is
        ``status`` now (each once: a list has an entry per end of a run), the latest ended first."""
        keys = {queue.key for queue in queues}
        lists = self.each(queues, lambda pipe, queue: pipe.lrange(queue.list_key(list_name), 0, -1))
        idents = list(dict.fromkeys(ident for entries in lists for ident in entries))
        located = [(ident, self.locate(ident)) for ident in idents]
        located = [(ident, where) for ident, where in located if where is not None]
        values = self.each(located, lambda pipe, item: pipe.hmget(KEYS.hash(model=item[1][0], pk=item[1][1]),
                                                                    "status", "queue_key", "end"))
        found = [(ident, end or "")
                 for (ident, _), (current, queue_key, end) in zip(located, values, strict=True)
                 if current == status and (not queue_key or queue_key in keys)]
        order = {ident: position for position, ident in enumerate(idents)}
        return sorted(found, key=lambda item: (item[1], order[item[0]]), reverse=True)

    def canceled(self, queues: list[_QueueRef]) -> list[str]:
        """Idents of the CANCELED jobs whose queue is one of these, the latest made first."""
        keys = {queue.key for queue in queues}
        found: list[tuple[int, str]] = []
        for model, model_repr in self.model_reprs().items():
            index = KEYS.index(model=model, field="status", value=STATUSES.CANCELED)
            pks = list(self.connection.sscan_iter(index, count=_CHUNK))
            queue_keys = self.each(pks, lambda pipe, pk, model=model: pipe.hget(KEYS.hash(model=model, pk=pk),
                                                                                "queue_key"))
            found += [(int(pk) if pk.isdigit() else 0, f"{model_repr}:{pk}")
                      for pk, queue_key in zip(pks, queue_keys, strict=True) if queue_key in keys]
        return [ident for _, ident in sorted(found, reverse=True)]


def _job_models() -> list[type[Job]]:
    """The Job models defined in this process (never imported here)."""
    found, pending = [], [Job]
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if not model.abstract:
            found.append(model)
    return found


def queue_names(queue_model: type[Queue] = Queue) -> list[str]:
    """The names of every queue, sorted."""
    return sorted({queue.name for queue in _Reader(queue_model).queues()})


def paused(queue_model: type[Queue] = Queue) -> set[str]:
    """The names of the paused queues."""
    return set(queue_model.get_connection().smembers(KEYS.paused()))


def counts(name: str, queue_model: type[Queue] = Queue) -> QueueCounts:
    """The jobs of a queue name by state, all priorities; UnknownQueue if no queue has the name.

    waiting and delayed are the lengths of the waiting lists and delayed sets; running counts the
    jobs a registered worker runs (RUNNING, or CANCELED while they run); success and error count
    the jobs of the success and errors lists whose status is SUCCESS (or ERROR) now, each once: a
    job that failed, was retried and succeeded is a success, not an error."""
    reader = _Reader(queue_model)
    return _counts(reader, name, reader.queues_of(name), paused(queue_model))


def all_counts(queue_model: type[Queue] = Queue) -> list[QueueCounts]:
    """``counts`` of every queue name, sorted by name."""
    reader = _Reader(queue_model)
    by_name: dict[str, list[_QueueRef]] = {}
    for queue in reader.queues():
        by_name.setdefault(queue.name, []).append(queue)
    stopped = paused(queue_model)
    return [_counts(reader, name, by_name[name], stopped) for name in sorted(by_name)]


def _counts(reader: _Reader, name: str, queues: list[_QueueRef], stopped: set[str]) -> QueueCounts:
    lengths = reader.each(queues, lambda pipe, queue: pipe.llen(queue.list_key("waiting"))
                          .zcard(queue.list_key("delayed")))
    return QueueCounts(
        name=name, priorities=[queue.priority for queue in queues],
        waiting=sum(lengths[0::2]), delayed=sum(lengths[1::2]), running=len(reader.running_of(queues)),
        success=len(reader.finished(queues, "success", STATUSES.SUCCESS)),
        error=len(reader.finished(queues, "errors", STATUSES.ERROR)), paused=name in stopped)


def jobs(name: str, state: str = "waiting", offset: int = 0, limit: int = 20,
         queue_model: type[Queue] = Queue) -> list[JobInfo]:
    """A page of the jobs of a queue name in a state (``STATES``): waiting in the order workers
    take them (highest priority first), delayed by due time, running by the time they were taken,
    success and error the latest ended first, canceled the latest made first."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must be 0 or more")
    reader = _Reader(queue_model)
    queues = reader.queues_of(name)
    if not limit:
        return []
    if state == "running":
        return reader.running_of(queues)[offset:offset + limit]
    if state == "waiting":
        idents = _waiting_page(reader, queues, offset, limit)
    elif state == "delayed":
        scored = reader.each(queues, lambda pipe, queue: pipe.zrange(queue.list_key("delayed"), 0,
                                                                     offset + limit - 1, withscores=True))
        merged = sorted((score, ident) for members in scored for ident, score in members)
        idents = [ident for _, ident in merged[offset:offset + limit]]
    else:
        if state == "canceled":
            idents = reader.canceled(queues)[offset:offset + limit]
        else:
            list_name, status = (("success", STATUSES.SUCCESS) if state == "success"
                                 else ("errors", STATUSES.ERROR))
            idents = [ident for ident, _ in reader.finished(queues, list_name, status)[offset:offset + limit]]
        return reader.infos(idents)
    return reader.infos(idents, keep_unknown=True)  # what the lists hold, whatever it is


def _waiting_page(reader: _Reader, queues: list[_QueueRef], offset: int, limit: int) -> list[str]:
    lengths = reader.each(queues, lambda pipe, queue: pipe.llen(queue.list_key("waiting")))
    ranges = []
    for queue, length in zip(queues, lengths, strict=True):
        if limit <= 0:
            break
        if offset >= length:
            offset -= length
            continue
        ranges.append((queue, offset, offset + limit - 1))
        limit -= min(length - offset, limit)
        offset = 0
    pages = reader.each(ranges, lambda pipe, item: pipe.lrange(item[0].list_key("waiting"), item[1], item[2]))
    return [ident for page in pages for ident in page]


def find_job(text: str, queue_model: type[Queue] = Queue) -> JobInfo:
    """The job named by its ident (``module.Class:pk``) or by ``QUEUE/identifier`` (the job of
    that identifier queued in that queue, else the latest one). InvalidIdent for a text that is
    neither, UnknownQueue or UnknownJob when there is no such queue or job. Nothing is imported:
    the model must be registered in Redis (every add_job does it) or defined in this process."""
    text = text.strip()
    reader = _Reader(queue_model)
    if "/" in text:
        return _find_by_identifier(reader, text)
    matched = _IDENT.match(text)
    if not matched:
        raise InvalidIdent(f"{text!r} names no job: give its ident (module.Class:pk) or QUEUE/identifier")
    model = reader.models().get(matched.group(1))
    if model is None:
        raise UnknownJob(f"no job {text}: {matched.group(1)!r} is not a registered Job model")
    found = reader.infos([text])
    if not found:
        raise UnknownJob(f"no job {text}")
    return _with_worker(reader, found[0])


def _find_by_identifier(reader: _Reader, text: str) -> JobInfo:
    splits = [(text[:i], text[i + 1:]) for i, char in enumerate(text) if char == "/"]
    for queue_name, identifier in splits:
        if not queue_name or not identifier or "," in queue_name:
            continue
        queues = reader.queues(queue_name)
        if queues:
            break
    else:
        queue_name = splits[0][0]
        if not queue_name or not splits[0][1]:
            raise InvalidIdent(f"{text!r} names no job: give its ident (module.Class:pk) or QUEUE/identifier")
        raise UnknownQueue(f"no queue named {queue_name!r}")
    keys = {queue.key for queue in queues}
    candidates: list[tuple[bool, str, int, str]] = []
    for model, model_repr in reader.model_reprs().items():
        index = KEYS.index(model=model, field="identifier", value=identifier)
        pks = sorted(reader.connection.smembers(index))
        values = reader.each(pks, lambda pipe, pk, model=model: pipe.hmget(KEYS.hash(model=model, pk=pk),
                                                                           "queue_key", "queued", "added"))
        candidates += [(queued == "1", added or "", int(pk) if pk.isdigit() else 0, f"{model_repr}:{pk}")
                       for pk, (queue_key, queued, added) in zip(pks, values, strict=True)
                       if queue_key in keys]
    if not candidates:
        raise UnknownJob(f"no job {identifier!r} in queue {queue_name!r}")
    found = reader.infos([max(candidates)[3]])
    if not found:
        raise UnknownJob(f"no job {identifier!r} in queue {queue_name!r}")
    return _with_worker(reader, found[0])


def _with_worker(reader: _Reader, info: JobInfo) -> JobInfo:
    """The job, with the worker that runs it (if one does)."""
    if info.fields.get("status") in _RUNS:
        for ident, worker, score in reader.running():
            if ident == info.ident:
                info.worker, info.since = worker, _timestamp(score)
    return info


def job_errors(job: JobInfo | Job | str, error_model: type[Error] = Error,
               queue_model: type[Queue] = Queue) -> list[ErrorInfo]:
    """The errors saved for a job (each failed run), oldest first."""
    info = _job_info(job, queue_model)
    connection = error_model.get_connection()
    model = error_model._name
    pks = sorted(connection.sinter(KEYS.index(model=model, field="job_model_repr", value=info.model_repr),
                                   KEYS.index(model=model, field="job_pk", value=info.pk)),
                 key=lambda pk: int(pk) if pk.isdigit() else 0)
    with connection.pipeline(transaction=False) as pipe:
        for pk in pks:
            pipe.hgetall(KEYS.hash(model=model, pk=pk))
        values = pipe.execute() if pks else []
    errors = [ErrorInfo(pk, fields) for pk, fields in zip(pks, values, strict=True) if fields]
    return sorted(errors, key=lambda error: (error.fields.get("date_time", ""), int(error.pk)
                                             if error.pk.isdigit() else 0))


def job_history(job: JobInfo | Job | str, queue_model: type[Queue] = Queue) -> list[dict[str, Any]]:
    """The events of a job's history (added, started, failed, requeued, canceled...), oldest
    first, as the scripts wrote them (``at``: a date string or a timestamp)."""
    info = _job_info(job, queue_model)
    key = KEYS.field(model=info.model, pk=info.pk, field="history")
    return history_entries(queue_model.get_connection().lrange(key, 0, -1))


def failures(name: str, offset: int = 0, limit: int = 20, error_model: type[Error] = Error,
             queue_model: type[Queue] = Queue) -> list[tuple[JobInfo, ErrorInfo | None]]:
    """The failed jobs (ERROR) of a queue name, the latest first, each with its last error."""
    return [(info, (job_errors(info, error_model, queue_model) or [None])[-1])
            for info in jobs(name, "error", offset, limit, queue_model)]


# --- writing


def _job_info(job: JobInfo | Job | str, queue_model: type[Queue]) -> JobInfo:
    """A job given as a JobInfo, a Job instance, or a text for ``find_job``."""
    if isinstance(job, JobInfo):
        return job
    if isinstance(job, Job):
        return JobInfo(job.ident, job._name, str(job._pk or job.pk.get()))
    return find_job(job, queue_model)


def cancel(job: JobInfo | Job | str, queue_model: type[Queue] = Queue) -> str:
    """Cancel a job. One that waits (WAITING or DELAYED) leaves its queue now, CANCELED and
    unqueued: adding its identifier again makes a new job ("canceled"). One a worker runs is marked
    CANCELED ("marked"): the worker's end of it records a skip (``job_skipped``) and unqueues it.
    "already" if it was CANCELED. UnknownJob if it does not exist, JobStateError if it is finished
    (SUCCESS, or ERROR with no retry to come)."""
    info = _job_info(job, queue_model)
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


def requeue(job: JobInfo | Job | str, prepend: bool = False, queue_model: type[Queue] = Queue) -> str:
    """Put a failed job (ERROR, no retry to come) back in the queue it failed in, WAITING, at the
    back (or the front if ``prepend``), with ``tries`` reset to 0 so that the worker's retries
    apply again. Returns the queue's name; UnknownJob or JobStateError if it cannot be done."""
    info = _job_info(job, queue_model)
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
    name = _Reader(queue_model).queue_name(done.queue)
    logger.info("job %s requeued in %s, its tries reset", info.ident, name)
    return name


def requeue_failed(name: str, prepend: bool = False, queue_model: type[Queue] = Queue) -> int:
    """Put every failed job of a queue name (ERROR, no retry to come) back in its queue, WAITING,
    with ``tries`` reset to 0; at the back, or at the front if ``prepend`` (oldest failure first).
    Returns how many; UnknownQueue if no queue has the name."""
    _Reader(queue_model).queues_of(name)
    done = requeue_failed_script.call(queue_model.database, queue_model=queue_model._name, name=name,
                                      now_score=queue_model.clock.time(), prepend=prepend)
    logger.info("%s failed job(s) of %s requeued, their tries reset", done.requeued, name)
    return done.requeued


def empty(name: str, queue_model: type[Queue] = Queue) -> int:
    """Cancel every job waiting or delayed in a queue name (all priorities), at once: each ends
    CANCELED and unqueued, the lists empty (adding an identifier again makes a new job). Returns
    how many; UnknownQueue if no queue has the name."""
    _Reader(queue_model).queues_of(name)
    done = empty_queue.call(queue_model.database, queue_model=queue_model._name, name=name,
                            now_str=datetime_to_str(queue_model.clock.now()))
    if done.kept:
        logger.warning("%s job(s) of models not registered left in %s", done.kept, name)
    logger.info("queue %s emptied: %s job(s) canceled", name, done.canceled)
    return done.canceled


def pause(name: str, queue_model: type[Queue] = Queue) -> bool:
    """Add a queue name to the paused set: workers take no job from it (those running end).
    False if it was paused already."""
    done = pause_queue.call(queue_model.database, queue_model=queue_model._name, name=clean_queue_name(name),
                            pause=True)
    logger.info("queue %s paused", name)
    return done.changed


def resume(name: str, queue_model: type[Queue] = Queue) -> bool:
    """Take a queue name out of the paused set, and wake up its idle workers. False if it was
    not paused."""
    done = pause_queue.call(queue_model.database, queue_model=queue_model._name, name=clean_queue_name(name),
                            pause=False)
    logger.info("queue %s resumed (%s worker(s) woken up)", name, done.woken)
    return done.changed


def workers(heartbeat_timeout: float = HEARTBEAT_TIMEOUT,
            queue_model: type[Queue] = Queue) -> list[WorkerState]:
    """Every registered worker: details, last beat, alive (beat within ``heartbeat_timeout``
    seconds of the queue model's clock), the jobs it runs (and since when), and whether it was
    asked to stop."""
    reader = _Reader(queue_model)
    scored = reader.connection.zrange(KEYS.workers(), 0, -1, withscores=True)
    details = reader.each(scored, lambda pipe, item: pipe.hgetall(KEYS.worker(worker=item[0]))
                          .get(KEYS.worker_control(worker=item[0])))
    running: dict[str, list[RunningJob]] = {}
    for ident, worker, score in reader.running():
        running.setdefault(worker, []).append(RunningJob(ident, _timestamp(score)))
    limit = queue_model.clock.time() - heartbeat_timeout
    found = []
    for index, (worker_id, last_beat) in enumerate(scored):
        info, order = details[2 * index], details[2 * index + 1]
        pid = info.get("pid", "")
        found.append(WorkerState(
            id=worker_id, host=info.get("host", ""), pid=int(pid) if pid.isdigit() else None,
            queues=[name for name in info.get("queues", "").split(",") if name], mode=info.get("mode", ""),
            started=str_to_datetime(info.get("started")),
            last_beat=datetime.fromtimestamp(last_beat, timezone.utc),
            alive=last_beat >= limit, running=running.get(worker_id, []),
            stopping=order == stop_workers_script.STOP))
    return found


def stop_workers(ids: Iterable[str] | None = None, queue_model: type[Queue] = Queue,
                 ttl: float = STOP_REQUEST_TTL) -> list[str]:
    """Ask workers (the ones of ``ids``, or every registered one) to stop after their current
    job: ``STOP`` in each one's control key, and a token in its wake-up list so that an idle
    worker reads it at once. UnknownWorker (nothing asked) if an id is not registered. Returns the
    ids asked."""
    wanted = list(dict.fromkeys(ids or []))
    if wanted:
        connection = queue_model.get_connection()
        with connection.pipeline(transaction=False) as pipe:
            for worker_id in wanted:
                pipe.zscore(KEYS.workers(), worker_id)
            scores = pipe.execute()
        unknown = [worker_id for worker_id, score in zip(wanted, scores, strict=True) if score is None]
        if unknown:
            raise UnknownWorker(f"no registered worker {', '.join(unknown)}")
    done = stop_workers_script.call(queue_model.database, order=stop_workers_script.STOP,
                                    ttl_ms=max(1, int(ttl * 1000)), workers=wanted)
    logger.info("asked %s worker(s) to stop: %s", done.asked, ", ".join(done.workers))
    return done.workers


def health(queues: Iterable[str] | str | None = None, worker: str | None = None,
           timeout: float = HEARTBEAT_TIMEOUT, queue_model: type[Queue] = Queue) -> Health:
    """Whether Redis answers and, if asked, the worker ``worker`` beats (within ``timeout``
    seconds) and each queue of ``queues`` has at least one worker that beats."""
    names = [name.strip() for name in (queues.split(",") if isinstance(queues, str) else queues or [])
             if name.strip()]
    try:
        queue_model.get_connection().ping()
        found = workers(timeout, queue_model)
    except RedisError as exc:
        return Health(False, False, f"Redis does not answer: {exc}")
    alive = [state for state in found if state.alive]
    problems = []
    if worker is not None:
        state = next((state for state in found if state.id == worker), None)
        if state is None:
            problems.append(f"worker {worker} is not registered")
        elif not state.alive:
            problems.append(f"worker {worker} has not beaten for {timeout:g}s")
    served = {name for state in alive for name in state.queues}
    missing = [name for name in names if name not in served]
    if missing:
        problems.append(f"no worker beating for queue(s) {', '.join(missing)}")
    if problems:
        return Health(False, True, "; ".join(problems), len(alive))
    return Health(True, True, f"Redis answers, {len(alive)} worker(s) beating", len(alive))
