"""The reads: counts, pages of jobs, a job, its errors and history, workers, health (nothing written)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from .. import orm, shards
from ..clock import liveness_time
from ..exceptions import InvalidIdent
from ..history import history_entries, read_history
from ..models import Error, Job, Queue
from ..protocol import KEYS, STATUSES, ControlOrder
from ..protocol.vocabulary import SUCCESS_FIELDS, succeeded_count
from ..utils import str_to_datetime, to_utc
from ..validation import MAX_IDENT_LENGTH, MAX_IDENTIFIER_LENGTH, MAX_QUEUE_NAME_LENGTH, printable
from .errors import UnknownJob, UnknownQueue
from .fanout import concatenated, in_job_shard, in_queue_shard, over_shards, union
from .reader import RUNS, QueueRef, Reader
from .views import ErrorInfo, Health, JobInfo, QueueCounts, RunningJob, WorkerState

#: The states ``jobs`` lists, as ``limpyd-jobs jobs --state`` names them.
STATES = ("waiting", "delayed", "running", "success", "error", "canceled")
#: Seconds without a heartbeat after which a worker is dead (the worker's default).
HEARTBEAT_TIMEOUT = 30.0
_IDENT = re.compile(r"^([A-Za-z_][\w.]*):(\w+)$")


@over_shards(lambda found: sorted(set(concatenated(found))))
def queue_names(queue_model: type[Queue] = Queue) -> list[str]:
    """The names of every queue, sorted."""
    return sorted({queue.name for queue in Reader(queue_model).queues()})


@over_shards(union)
def paused(queue_model: type[Queue] = Queue) -> set[str]:
    """The names of the paused queues."""
    return set(queue_model.get_connection().smembers(KEYS.paused()))


@in_queue_shard
def counts(name: str, queue_model: type[Queue] = Queue) -> QueueCounts:
    """The jobs of a queue name by state, all priorities; UnknownQueue if no queue has the name.

    waiting and delayed are the lengths of the waiting lists and delayed sets; running counts the
    jobs a registered worker runs (RUNNING, or CANCELED while they run); success and error are the
    lengths of the success and errors lists: the runs ended so that are kept (``keep_finished``),
    a job failing twice counting twice. A few round trips, whatever the lists hold."""
    reader = Reader(queue_model)
    return _counts(reader, {name: reader.queues_of(name)}, paused(queue_model))[0]


@over_shards(lambda found: sorted(concatenated(found), key=lambda counted: counted.name))
def all_counts(queue_model: type[Queue] = Queue, with_canceled: bool = False) -> list[QueueCounts]:
    """``counts`` of every queue name, sorted by name (the same few round trips for all).

    ``with_canceled`` counts the CANCELED jobs too: one more read per such job (commands only)."""
    reader = Reader(queue_model)
    by_name: dict[str, list[QueueRef]] = {}
    for queue in reader.queues():
        by_name.setdefault(queue.name, []).append(queue)
    return _counts(reader, dict(sorted(by_name.items())), paused(queue_model), with_canceled)


def _counts(reader: Reader, by_name: dict[str, list[QueueRef]], stopped: set[str],
            with_canceled: bool = False) -> list[QueueCounts]:
    queues = [queue for group in by_name.values() for queue in group]
    lengths = dict(zip(queues, _chunks(reader.each(queues, lambda pipe, queue: (
        pipe.llen(queue.list_key("waiting")).zcard(queue.list_key("delayed"))
        .llen(queue.list_key("success")).llen(queue.list_key("errors"))
        .hmget(KEYS.metrics(queue=queue.key), SUCCESS_FIELDS))), 5), strict=True))
    running: dict[str, int] = {}
    for info in reader.running_jobs():
        running[info.fields.get("queue_key", "")] = running.get(info.fields.get("queue_key", ""), 0) + 1
    canceled = reader.canceled_by_queue() if with_canceled else None
    found = []
    for name, group in by_name.items():
        totals = [sum(lengths[queue][index] for queue in group) for index in range(4)]
        succeeded = sum(succeeded_count(dict(zip(SUCCESS_FIELDS, lengths[queue][4], strict=True)))
                        for queue in group)
        found.append(QueueCounts(
            name=name, priorities=[queue.priority for queue in group], waiting=totals[0], delayed=totals[1],
            running=sum(running.get(queue.key, 0) for queue in group), success=totals[2], error=totals[3],
            paused=name in stopped, succeeded_total=succeeded,
            canceled=None if canceled is None else sum(canceled.get(queue.key, 0) for queue in group)))
    return found


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[start:start + size] for start in range(0, len(values), size)]


@in_queue_shard
def jobs(name: str, state: str = "waiting", offset: int = 0, limit: int = 20,
         queue_model: type[Queue] = Queue) -> list[JobInfo]:
    """A page of the jobs of a queue name in a state (``STATES``): waiting in the order workers
    take them (highest priority first), delayed by due time, running by the time they were taken,
    success and error the entries of those lists, the latest ended first (each job as it is now:
    one failed and retried since is shown with its status now), canceled the latest made first.
    Each reads what it shows (and ``offset`` entries of each list), never a whole list."""
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
    if state in ("success", "error"):
        return reader.finished_page(queues, "success" if state == "success" else "errors", offset, limit)
    if state == "canceled":
        return reader.infos(reader.canceled(queues, offset, limit))
    if state == "waiting":
        idents = _waiting_page(reader, queues, offset, limit)
    else:
        scored = reader.each(queues, lambda pipe, queue: pipe.zrange(queue.list_key("delayed"), 0,
                                                                     offset + limit - 1, withscores=True))
        merged = sorted((score, ident) for members in scored for ident, score in members)
        idents = [ident for _, ident in merged[offset:offset + limit]]
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
    neither (or longer than a queue name and an identifier may be), UnknownQueue or UnknownJob when
    there is no such queue or job. Nothing is imported: the model must be registered in Redis
    (every add_job does it) or defined in this process. Linear in the text, a few round trips.

    Sharded, it is looked for in every shard (``module.Class:pk@N``: in shard N only); found in
    several (an ident is per shard), UnknownJob asks for ``@N``."""
    if not shards.sharded():
        return _find_job(text, queue_model)
    ident, index = shards.split_qualified(text.strip())
    if index is not None and _IDENT.match(ident):
        if index >= shards.count():
            raise UnknownJob(f"no job {text}: there are {shards.count()} shards")
        with shards.using(index):
            return _find_job(ident, queue_model)
    found: list[JobInfo] = []
    missing: list[Exception] = []
    for index in range(shards.count()):
        with shards.using(index):
            try:
                found.append(_find_job(text, queue_model))
            except (UnknownJob, UnknownQueue) as exc:
                missing.append(exc)
    if len(found) > 1:
        raise UnknownJob(f"{printable(text[:200])} names a job in shards "
                         f"{', '.join(str(info.shard) for info in found)}: name one, {found[0].ident}@N")
    if not found:
        raise next((exc for exc in missing if isinstance(exc, UnknownJob)), missing[0])
    return found[0]


def _find_job(text: str, queue_model: type[Queue]) -> JobInfo:
    """``find_job`` in the current shard."""
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidIdent(f"a job is named in at most {MAX_TEXT_LENGTH} characters (its ident, or "
                           f"QUEUE/identifier), not {len(text)}")
    text = text.strip()
    reader = Reader(queue_model)
    if "/" in text:
        return _find_by_identifier(reader, text)
    matched = _IDENT.match(text) if len(text) <= MAX_IDENT_LENGTH else None
    if not matched:
        raise InvalidIdent(f"{printable(text[:80])!r} names no job: give its ident (module.Class:pk) or "
                           "QUEUE/identifier")
    model = reader.models().get(matched.group(1))
    if model is None:
        raise UnknownJob(f"no job {text}: {matched.group(1)!r} is not a registered Job model")
    found = reader.infos([text])
    if not found:
        raise UnknownJob(f"no job {text}")
    return _with_worker(reader, found[0])


#: The longest text naming a job: a queue name, ``/`` and an identifier.
MAX_TEXT_LENGTH = MAX_QUEUE_NAME_LENGTH + 1 + MAX_IDENTIFIER_LENGTH
#: Pks of the jobs of an identifier read per round trip while looking for the one of a queue.
_BATCH = 200


def _splits(text: str) -> list[tuple[str, str]]:
    """The (queue name, identifier) pairs ``QUEUE/identifier`` may stand for (a queue name may
    hold ``/``): one per ``/`` within the longest queue name, both parts valid."""
    found = []
    position = text.find("/")
    while 0 <= position <= MAX_QUEUE_NAME_LENGTH:
        name, identifier = text[:position], text[position + 1:]
        if name and "," not in name and identifier and len(identifier) <= MAX_IDENTIFIER_LENGTH:
            found.append((name, identifier))
        position = text.find("/", position + 1)
    return found


def _find_by_identifier(reader: Reader, text: str) -> JobInfo:
    splits = _splits(text)
    if not splits:
        raise InvalidIdent(f"{printable(text[:80])!r} names no job: give its ident (module.Class:pk) or "
                           "QUEUE/identifier")
    by_name: dict[str, list[QueueRef]] = {}
    for queue in reader.queues([name for name, _ in splits]):
        by_name.setdefault(queue.name, []).append(queue)
    chosen = next(((name, identifier) for name, identifier in splits if name in by_name), None)
    if chosen is None:
        raise UnknownQueue(f"no queue named {printable(splits[0][0])!r}")
    queue_name, identifier = chosen
    keys = {queue.key for queue in by_name[queue_name]}
    connection = reader.connection
    models = list(reader.model_reprs().items())
    with connection.pipeline(transaction=False) as pipe:
        for model, _ in models:
            index = KEYS.index(model=model, field="identifier", value=identifier)
            pipe.sinter(index, KEYS.index(model=model, field="queued", value="1")).smembers(index)
        found = pipe.execute() if models else []
    for queued_only in (True, False):  # the queued job of this identifier first, else the latest
        for number, (model, model_repr) in enumerate(models):
            pks = sorted(found[2 * number + (0 if queued_only else 1)],
                         key=lambda pk: int(pk) if pk.isdigit() else 0, reverse=True)
            for start in range(0, len(pks), _BATCH):
                batch = pks[start:start + _BATCH]
                queue_keys = reader.each(batch, lambda pipe, pk, model=model: pipe.hget(
                    KEYS.hash(model=model, pk=pk), "queue_key"))
                pk = next((pk for pk, key in zip(batch, queue_keys, strict=True) if key in keys), None)
                if pk is not None:
                    infos = reader.infos([f"{model_repr}:{pk}"])
                    if infos:
                        return _with_worker(reader, infos[0])
    raise UnknownJob(f"no job {printable(identifier[:200])!r} in queue {printable(queue_name)!r}")


def _with_worker(reader: Reader, info: JobInfo) -> JobInfo:
    """The job, with the worker that runs it (if one does)."""
    if info.fields.get("status") in RUNS:
        for ident, worker, score in reader.running():
            if ident == info.ident:
                info.worker, info.since = worker, to_utc(score)
    return info


@in_job_shard(find_job)
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


@in_job_shard(find_job)
def job_history(job: JobInfo | Job | str, queue_model: type[Queue] = Queue) -> list[dict[str, Any]]:
    """The events of a job's history (added, started, failed, requeued, canceled...), oldest
    first, as the scripts wrote them (``at``: a date string or a timestamp)."""
    info = job_info(job, queue_model)
    return history_entries(*read_history(queue_model.get_connection(), info.model, info.pk))


@in_queue_shard
def failures(name: str, offset: int = 0, limit: int = 20, error_model: type[Error] = Error,
             queue_model: type[Queue] = Queue) -> list[tuple[JobInfo, ErrorInfo | None]]:
    """The failed jobs of a queue name among entries ``offset`` to ``offset + limit`` of its
    errors lists (the latest first): those still in ERROR, each once, with its last error."""
    page = {info.ident: info for info in jobs(name, "error", offset, limit, queue_model)
            if info.fields.get("status") == STATUSES.ERROR}
    return list(zip(page.values(), last_errors(list(page.values()), error_model), strict=True))


def recent_failures(names: Iterable[str], limit: int = 10, error_model: type[Error] = Error,
                    queue_model: type[Queue] = Queue) -> list[tuple[JobInfo, ErrorInfo | None]]:
    """The latest ``limit`` failed jobs (still ERROR) of these queue names, the latest ended
    first, each with its last error: the last ``limit`` entries of each errors list, in a few
    round trips for all the queues (and shards)."""
    names = list(names)
    found = concatenated(shards.across(lambda: _recent_failures(names, limit, error_model, queue_model)))
    return sorted(found, key=lambda pair: pair[0].fields.get("end") or "", reverse=True)[:limit]


def _recent_failures(names: list[str], limit: int, error_model: type[Error],
                     queue_model: type[Queue]) -> list[tuple[JobInfo, ErrorInfo | None]]:
    reader = Reader(queue_model)
    wanted = set(names)
    queues = [queue for queue in reader.queues(sorted(wanted))] if wanted else []
    tails = reader.each(queues, lambda pipe, queue: pipe.lrange(queue.list_key("errors"), -limit, -1))
    idents = list(dict.fromkeys(ident for tail in tails for ident in tail))
    failed = [info for info in reader.infos(idents) if info.fields.get("status") == STATUSES.ERROR]
    failed = sorted(failed, key=lambda info: info.fields.get("end") or "", reverse=True)[:limit]
    return list(zip(failed, last_errors(failed, error_model), strict=True))


def last_errors(infos: list[JobInfo], error_model: type[Error] = Error) -> list[ErrorInfo | None]:
    """The last error saved for each of these jobs (None if none): three round trips for all
    (sharded: for those of each shard, in it)."""
    if shards.sharded() and any(info.shard != shards.current() for info in infos):
        found: dict[int, ErrorInfo | None] = {}
        for index in sorted({info.shard for info in infos}):
            mine = [position for position, info in enumerate(infos) if info.shard == index]
            with shards.using(index):
                found.update(zip(mine, last_errors([infos[position] for position in mine], error_model),
                                 strict=True))
        return [found[position] for position in range(len(infos))]
    connection = error_model.get_connection()
    model = error_model._name
    with connection.pipeline(transaction=False) as pipe:
        for info in infos:
            pipe.sinter(KEYS.index(model=model, field="job_model_repr", value=info.model_repr),
                        KEYS.index(model=model, field="job_pk", value=info.pk))
        pk_sets = pipe.execute() if infos else []
    lasts = [max(pks, key=lambda pk: int(pk) if pk.isdigit() else 0) if pks else None for pks in pk_sets]
    with connection.pipeline(transaction=False) as pipe:
        for pk in lasts:
            if pk is not None:
                pipe.hgetall(KEYS.hash(model=model, pk=pk))
        values = iter(pipe.execute() if any(pk is not None for pk in lasts) else [])
    errors: list[ErrorInfo | None] = []
    for pk in lasts:
        fields = next(values) if pk is not None else None
        errors.append(ErrorInfo(pk, fields) if pk is not None and fields else None)
    return errors


@over_shards(concatenated)
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
    identifiers = {info.ident: info.identifier for info in reader.running_jobs()}
    for ident, worker, score in reader.running():
        running.setdefault(worker, []).append(RunningJob(ident, to_utc(score), identifiers.get(ident) or "",
                                                           shards.current()))
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
        return JobInfo(job.ident, job._name, orm.pk_of(job), shard=job.shard)
    return find_job(job, queue_model)
