"""``Reader``: what an operation reads, with read commands only, in pipelines."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import shards
from ..constants import LOGGER_NAME
from ..models import Queue, job_models
from ..protocol import KEYS, STATUSES
from ..utils import to_utc
from ..validation import clean_lookup_name, printable
from .errors import UnknownQueue
from .views import JobInfo

logger = logging.getLogger(LOGGER_NAME)

#: Commands sent in one pipeline at most.
CHUNK = 500
#: The statuses of a job a worker runs: RUNNING, or CANCELED while it ran (its end is to come).
RUNS = (STATUSES.RUNNING, STATUSES.CANCELED)


@dataclass(frozen=True)
class QueueRef:
    """One Queue (a name at a priority) and its keys."""

    name: str
    priority: int
    pk: str
    key: str

    def list_key(self, name: str) -> str:
        return KEYS.queue_list(queue=self.key, list=name)


class Reader:
    """Reads, with read commands only, in pipelines; what it read once it keeps (one operation)."""

    def __init__(self, queue_model: type[Queue]) -> None:
        self.queue_model = queue_model
        self.connection = queue_model.get_connection()
        self._models: dict[str, str] | None = None
        self._queue_names: dict[str, str] = {}
        self._running: list[tuple[str, str, float]] | None = None
        self._running_jobs: list[JobInfo] | None = None

    def each(self, items: Sequence[Any], command: Callable[[Any, Any], Any]) -> list[Any]:
        """``command(pipe, item)`` for each item, in pipelines; the replies, in order."""
        replies: list[Any] = []
        for start in range(0, len(items), CHUNK):
            with self.connection.pipeline(transaction=False) as pipe:
                for item in items[start:start + CHUNK]:
                    command(pipe, item)
                replies += pipe.execute()
        return replies

    def models(self) -> dict[str, str]:
        """Job model repr -> limpyd model name: the registry, and the Job models of this process."""
        if self._models is None:
            known = {model.get_model_repr(): model._name for model in job_models()}
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

    def queues(self, name: str | list[str] | None = None) -> list[QueueRef]:
        """The queues of a name, or of names (all if None), highest priority first, then by name."""
        model = self.queue_model._name
        names = [name] if isinstance(name, str) else name
        found = []
        for pk, queue_name, priority in self.queue_model.by_priority(names):
            if priority is None:
                logger.warning("queue %s:%s has a malformed priority: left out", model, pk)
                continue
            if queue_name is not None and (names is None or queue_name in names):
                key = KEYS.queue(model=model, pk=pk)
                self._queue_names[key] = queue_name
                found.append(QueueRef(queue_name, priority, pk, key))
        return found

    def queues_of(self, name: str) -> list[QueueRef]:
        """The queues of a name; UnknownQueue if there is none."""
        found = self.queues(clean_lookup_name(name))
        if not found:
            raise UnknownQueue(f"no queue named {printable(name)!r}")
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
                infos.append(JobInfo(ident, model, pk, values, self.queue_name(values.get("queue_key")),
                                     shard=shards.current()))
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

    def running_jobs(self) -> list[JobInfo]:
        """Every job a registered worker runs (RUNNING, or CANCELED while it runs: its end is to
        come), with its worker and since when, the oldest taken first (read once per Reader)."""
        if self._running_jobs is None:
            taken = {ident: (worker, score) for ident, worker, score in self.running()}
            found = []
            for info in self.infos(list(taken)):
                if info.fields.get("status") in RUNS:
                    info.worker, score = taken[info.ident]
                    info.since = to_utc(score)
                    found.append(info)
            self._running_jobs = sorted(found, key=lambda info: taken[info.ident][1])
        return self._running_jobs

    def running_of(self, queues: list[QueueRef]) -> list[JobInfo]:
        """The jobs of these queues a registered worker runs, the oldest taken first."""
        keys = {queue.key for queue in queues}
        return [info for info in self.running_jobs() if info.fields.get("queue_key") in keys]

    def finished_page(self, queues: list[QueueRef], list_name: str, offset: int, limit: int) -> list[JobInfo]:
        """Entries ``offset`` to ``offset + limit`` of these queues' ``success`` or ``errors``
        lists (an entry per end of a run), the latest ended first, each job as it is now: reads
        the ``offset + limit`` last entries of each list, never a whole list."""
        if limit <= 0:
            return []
        window = offset + limit
        tails = self.each(queues, lambda pipe, queue: pipe.lrange(queue.list_key(list_name), -window, -1))
        if len(queues) == 1:  # one list: its entries are in the order of their ends
            idents = list(reversed(tails[0]))[offset:offset + limit]
            return self.infos(idents, keep_unknown=True)
        entries = [(ident, rank) for tail in tails for rank, ident in enumerate(reversed(tail))]
        infos = self.infos([ident for ident, _ in entries], keep_unknown=True)
        ranked = sorted(zip(infos, (rank for _, rank in entries), strict=True),
                        key=lambda item: (item[0].fields.get("end") or "", -item[1]), reverse=True)
        return [info for info, _ in ranked[offset:offset + limit]]

    def canceled_by_queue(self) -> dict[str, int]:
        """The number of CANCELED jobs of each queue key (the queue of each read, in pipelines)."""
        found: dict[str, int] = {}
        for model in self.model_reprs():
            index = KEYS.index(model=model, field="status", value=STATUSES.CANCELED)
            pks = list(self.connection.smembers(index))
            queue_keys = self.each(pks, lambda pipe, pk, model=model: pipe.hget(KEYS.hash(model=model, pk=pk),
                                                                                "queue_key"))
            for queue_key in queue_keys:
                found[queue_key or ""] = found.get(queue_key or "", 0) + 1
        return found

    def canceled(self, queues: list[QueueRef], offset: int = 0, limit: int | None = None) -> list[str]:
        """Idents of the CANCELED jobs whose queue is one of these, the latest made first (entries
        ``offset`` to ``offset + limit``): the jobs of the latest pks are read first, in batches,
        until the page is full."""
        keys = {queue.key for queue in queues}
        candidates: list[tuple[int, str, str, str]] = []
        for model, model_repr in self.model_reprs().items():
            index = KEYS.index(model=model, field="status", value=STATUSES.CANCELED)
            candidates += [(int(pk) if pk.isdigit() else 0, pk, model, model_repr)
                           for pk in self.connection.smembers(index)]
        candidates.sort(reverse=True)
        wanted = None if limit is None else offset + limit
        found: list[str] = []
        for start in range(0, len(candidates), CHUNK):
            batch = candidates[start:start + CHUNK]
            queue_keys = self.each(batch, lambda pipe, item: pipe.hget(KEYS.hash(model=item[2], pk=item[1]),
                                                                       "queue_key"))
            found += [f"{model_repr}:{pk}" for (_, pk, _, model_repr), queue_key in zip(batch, queue_keys,
                                                                                       strict=True)
                      if queue_key in keys]
            if wanted is not None and len(found) >= wanted:
                break
        return found[offset:None if limit is None else offset + limit]
