"""``Reader``: what an operation reads, with read commands only, in pipelines."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..constants import LOGGER_NAME
from ..models import Queue, job_models
from ..protocol import KEYS, STATUSES
from ..utils import to_utc
from ..validation import clean_queue_name
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

    def queues(self, name: str | None = None) -> list[QueueRef]:
        """The queues of a name (all if None), highest priority first, then by name."""
        model = self.queue_model._name
        found = []
        for pk, queue_name, priority in self.queue_model.by_priority(None if name is None else [name]):
            if priority is None:
                logger.warning("queue %s:%s has a malformed priority: left out", model, pk)
                continue
            if queue_name is not None and (name is None or queue_name == name):
                key = KEYS.queue(model=model, pk=pk)
                self._queue_names[key] = queue_name
                found.append(QueueRef(queue_name, priority, pk, key))
        return found

    def queues_of(self, name: str) -> list[QueueRef]:
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

    def running_of(self, queues: list[QueueRef]) -> list[JobInfo]:
        """The jobs of these queues a registered worker runs (RUNNING, or CANCELED while it runs:
        its end is to come), the oldest taken first."""
        keys = {queue.key for queue in queues}
        taken = {ident: (worker, score) for ident, worker, score in self.running()}
        found = []
        for info in self.infos(list(taken)):
            if info.fields.get("status") in RUNS and info.fields.get("queue_key") in keys:
                info.worker, score = taken[info.ident]
                info.since = to_utc(score)
                found.append(info)
        return sorted(found, key=lambda info: taken[info.ident][1])

    def finished(self, queues: list[QueueRef], list_name: str, status: str) -> list[tuple[str, str]]:
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

    def canceled(self, queues: list[QueueRef]) -> list[str]:
        """Idents of the CANCELED jobs whose queue is one of these, the latest made first."""
        keys = {queue.key for queue in queues}
        found: list[tuple[int, str]] = []
        for model, model_repr in self.model_reprs().items():
            index = KEYS.index(model=model, field="status", value=STATUSES.CANCELED)
            pks = list(self.connection.sscan_iter(index, count=CHUNK))
            queue_keys = self.each(pks, lambda pipe, pk, model=model: pipe.hget(KEYS.hash(model=model, pk=pk),
                                                                                "queue_key"))
            found += [(int(pk) if pk.isdigit() else 0, f"{model_repr}:{pk}")
                      for pk, queue_key in zip(pks, queue_keys, strict=True) if queue_key in keys]
        return [ident for _, ident in sorted(found, reverse=True)]
