"""The reads: counts, pages of jobs, a job, its errors and history, workers, health (nothing written)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from ..clock import liveness_time
from ..exceptions import InvalidIdent
from ..history import history_entries
from ..models import Error, Job, Queue
from ..protocol import KEYS, STATUSES, ControlOrder
from ..utils import str_to_datetime, to_utc
from .errors import UnknownJob, UnknownQueue
from .reader import RUNS, QueueRef, Reader
from .views import ErrorInfo, Health, JobInfo, QueueCounts, RunningJob, WorkerState

#: The states ``jobs`` lists, as ``limpyd-jobs jobs --state`` names them.
STATES = ("waiting", "delayed", "running", "success", "error", "canceled")
#: Seconds without a heartbeat after which a worker is dead (the worker's default).
HEARTBEAT_TIMEOUT = 30.0
_IDENT = re.compile(r"^([A-Za-z_][\w.]*):(\w+)$")


def queue_names(queue_model: type[Queue] = Queue) -> list[str]:
    """The names of every queue, sorted."""
    return sorted({queue.name for queue in Reader(queue_model).queues()})


def paused(queue_model: type[Queue] = Queue) -> set[str]:
    """The names of the paused queues."""
    return set(queue_model.get_connection().smembers(KEYS.paused()))


def counts(name: str, queue_model: type[Queue] = Queue) -> QueueCounts:
    """The jobs of a queue name by state, all priorities; UnknownQueue if no queue has the name.

    waiting and delayed are the lengths of the waiting lists and delayed sets; running counts the
    jobs a registered worker runs (RUNNING, or CANCELED while they run); success and error count
    the jobs of the success and errors lists whose status is SUCCESS (or ERROR) now, each once: a
    job that failed, was retried and succeeded is a success, not an error."""
    reader = Reader(queue_model)
    return _counts(reader, name, reader.queues_of(name), paused(queue_model))


def all_counts(queue_model: type[Queue] = Queue) -> list[QueueCounts]:
    """``counts`` of every queue name, sorted by name."""
    reader = Reader(queue_model)
    by_name: dict[str, list[QueueRef]] = {}
    for queue in reader.queues():
        by_name.setdefault(queue.name, []).append(queue)
    stopped = paused(queue_model)
    return [_counts(reader, name, by_name[name], stopped) for name in sorted(by_name)]


def _counts(reader: Reader, name: str, queues: list[QueueRef], stopped: set[str]) -> QueueCounts:
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
    reader = Reader(queue_model)
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


def _waiting_page(reader: Reader, queues: list[QueueRef], offset: int, limit: int) -> list[str]:
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
    reader = Reader(queue_model)
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


def _find_by_identifier(reader: Reader, text: str) -> JobInfo:
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


def _with_worker(reader: Reader, info: JobInfo) -> JobInfo:
    """The job, with the worker that runs it (if one does)."""
    if info.fields.get("status") in RUNS:
        for ident, worker, score in reader.running():
            if ident == info.ident:
                info.worker, info.since = worker, to_utc(score)
    return info


def job_errors(job: JobInfo | Job | str, error_model: type[Error] = Error,
               queue_model: type[Queue] = Queue) -> list[ErrorInfo]:
    """The errors saved for a job (each failed run), oldest first."""
    info = job_info(job, queue_model)
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
    info = job_info(job, queue_model)
    key = KEYS.field(model=info.model, pk=info.pk, field="history")
    return history_entries(queue_model.get_connection().lrange(key, 0, -1))


def failures(name: str, offset: int = 0, limit: int = 20, error_model: type[Error] = Error,
             queue_model: type[Queue] = Queue) -> list[tuple[JobInfo, ErrorInfo | None]]:
    """The failed jobs (ERROR) of a queue name, the latest first, each with its last error."""
    return [(info, (job_errors(info, error_model, queue_model) or [None])[-1])
            for info in jobs(name, "error", offset, limit, queue_model)]


def workers(heartbeat_timeout: float = HEARTBEAT_TIMEOUT,
            queue_model: type[Queue] = Queue) -> list[WorkerState]:
    """Every registered worker: details, last beat, alive (beat within ``heartbeat_timeout``
    seconds of Redis's clock, or of a clock injected in the queue model), the jobs it runs (and
    since when), and whether it was asked to stop."""
    reader = Reader(queue_model)
    scored = reader.connection.zrange(KEYS.workers(), 0, -1, withscores=True)
    details = reader.each(scored, lambda pipe, item: pipe.hgetall(KEYS.worker(worker=item[0]))
                          .get(KEYS.worker_control(worker=item[0])))
    running: dict[str, list[RunningJob]] = {}
    for ident, worker, score in reader.running():
        running.setdefault(worker, []).append(RunningJob(ident, to_utc(score)))
    limit = liveness_time(queue_model.clock, reader.connection) - heartbeat_timeout  # Redis's clock
    found = []
    for index, (worker_id, last_beat) in enumerate(scored):
        info, order = details[2 * index], details[2 * index + 1]
        pid = info.get("pid", "")
        found.append(WorkerState(
            id=worker_id, host=info.get("host", ""), pid=int(pid) if pid.isdigit() else None,
            queues=[name for name in info.get("queues", "").split(",") if name], mode=info.get("mode", ""),
            started=str_to_datetime(info.get("started")),
            last_beat=to_utc(last_beat),
            alive=last_beat >= limit, running=running.get(worker_id, []),
            stopping=order == ControlOrder.STOP))
    return found


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


def job_info(job: JobInfo | Job | str, queue_model: type[Queue]) -> JobInfo:
    """A job given as a JobInfo, a Job instance, or a text for ``find_job``."""
    if isinstance(job, JobInfo):
        return job
    if isinstance(job, Job):
        return JobInfo(job.ident, job._name, str(job._pk or job.pk.get()))
    return find_job(job, queue_model)
