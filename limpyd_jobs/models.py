"""The limpyd models: ``Queue`` (lists of jobs per name and priority), ``Job`` and ``Error``.

Every write that other processes may race with goes through one Lua script (``protocol/scripts``),
which writes the same keys limpyd would, so collections and filters stay true.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from limpyd import fields
from limpyd.contrib.indexes import SimpleDateTimeIndex
from limpyd_extensions import related

from . import orm, shards
from .clock import SYSTEM_CLOCK, Clock, script_time
from .connection import default_settings
from .due import DueSet
from .exceptions import (
    ConfigurationException,
    InvalidIdent,
    InvalidStatus,
    InvalidValue,
    LimpydJobsException,
    UnknownModel,
)
from .history import decoded_events, read_history
from .protocol import KEYS, STATUSES
from .protocol.scripts import add_job, add_jobs, enqueue_job, get_queue, purge_finished, requeue_delayed
from .protocol.vocabulary import configured_prefix
from .script_fields import fields_of_new_job, free_fields, has_plain_index, purge_descriptions
from .utils import (
    compute_delayed_until,
    datetime_to_score,
    datetime_to_str,
    import_string,
    naive_utc,
    normalize_names,
    stored,
    str_to_datetime,
    to_utc,
)
from .validation import (
    MAX_PRIORITY,
    clean_identifier,
    clean_priority,
    clean_queue_name,
    parse_priority,
)

__all__ = ["BaseJobsModel", "Queue", "Job", "Error"]


class StatusField(fields.InstanceHashField):
    """The ``status`` field: refuses values that are not one of ``STATUSES``."""

    def _call_hset(self, command: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if value not in STATUSES.values():
            raise InvalidStatus(
                f"{value!r} is not a status: use one of STATUSES ({', '.join(STATUSES.values())})"
            )
        return super()._call_hset(command, value, *args, **kwargs)

    _call_hsetnx = _call_hset


class ShardName:
    """A model's limpyd name (``jobs:job``), under the prefix of its shard when sharded: the
    instance's (the shard it was made in), else the current one."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name = name
        self.rest = name[len(namespace):] if name.startswith(namespace + ":") else ":" + name

    def __get__(self, instance: Any, owner: type) -> str:
        layout = shards.layout()
        if layout.count == 1:
            return self.name
        index = None if instance is None else instance.__dict__.get("_shard")
        return layout.prefix(shards.current() if index is None else index) + self.rest


class ShardNamedModel(type(related.RelatedModel)):  # type: ignore[misc]
    """The metaclass of the models: each one's limpyd name is a ``ShardName``."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> Any:
        built = super().__new__(mcs, name, bases, attrs)
        own = built.__dict__.get("_name")
        if isinstance(own, str):
            type.__setattr__(built, "_name", ShardName(own, BaseJobsModel.namespace))
        return built


class BaseJobsModel(orm.LazyFields, related.RelatedModel, metaclass=ShardNamedModel):
    """Base of every limpyd-jobs model: shared namespace, database and clock.

    A ``RelatedModel`` of redis-limpyd-extensions (subclasses may declare related fields, such
    as ``FKInstanceHashField``), with its extended collections, as in redis-limpyd-jobs.
    ``BaseJobsModel.use_database(database)`` moves all of them (and subclasses) at once;
    ``BaseJobsModel.clock`` is where they (and workers, by default) read the time.
    """

    abstract = True
    namespace = configured_prefix() or "jobs"
    database = orm.JobsDatabase.lazy(default_settings)  # REDIS_URL is read on first use
    clock: Clock = SYSTEM_CLOCK

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if shards.sharded():
            self._shard = shards.current()
        super().__init__(*args, **kwargs)

    @property
    def shard(self) -> int:
        """The shard this instance is in (0 when not sharded)."""
        return self.__dict__.get("_shard", 0)

    @classmethod
    def delays_start(cls, now: datetime, delayed_for: Any) -> datetime:
        """When a ``delayed_for`` delay starts: ``now`` on Redis's clock (this host's, moved by
        their offset, read at most once a minute), which decides when delayed jobs are due."""
        if delayed_for is None or not cls.clock.server_time:
            return now
        return now + timedelta(seconds=orm.server_offset(cls.database))

    @classmethod
    def due_now_score(cls, now_score: float) -> float:
        """``now_score`` on Redis's clock: what tells whether a delay is over, as the workers
        moving delayed jobs tell it."""
        if not cls.clock.server_time:
            return now_score
        return now_score + orm.server_offset(cls.database)

    @classmethod
    def use_database(cls, database: Any) -> Any:
        """Move this model and its subclasses to ``database``, with their relations."""
        original = getattr(cls, "database", None)
        moved = super(related.RelatedModel, cls).use_database(database)  # RelatedModel's fails: see orm
        orm.move_relations(original, database, moved)
        return moved

    def set_fields(self, **values: Any) -> None:
        """Set several fields, each through its own setter (indexes, uniqueness)."""
        for name, value in values.items():
            self.get_field(name).proxy_set(value)


def by_shard(names: list[str]) -> list[tuple[int, list[str]]]:
    """The names by shard, in shard order (one group, the current shard's, unsharded)."""
    if not shards.sharded():
        return [(shards.current(), names)]
    groups: dict[int, list[str]] = {}
    for name in names:
        groups.setdefault(shards.shard_of(name), []).append(name)
    return sorted(groups.items())


class PurgedSlice(NamedTuple):
    """What a purge of a queue's finished jobs did."""

    deleted: int  # jobs deleted
    full: bool  # a list had a full slice removed: it may have more to remove


class Queue(BaseJobsModel):
    """The waiting, delayed, success and error jobs of one (name, priority) pair."""

    name = fields.InstanceHashField(indexable=True)
    priority = fields.InstanceHashField(indexable=True, default=0)
    waiting = fields.ListField()
    success = fields.ListField()
    errors = fields.ListField()
    delayed = fields.SortedSetField()

    #: Fields the get_queue script writes itself.
    _script_fields = ("name", "priority", "waiting", "success", "errors", "delayed")

    @classmethod
    def get_queue(cls, name: str, priority: int = 0, **fields_if_new: Any) -> "Queue":
        """Return the queue with this name and priority, created (atomically) if missing."""
        if shards.sharded() and shards.shard_of(clean_queue_name(name)) != shards.current():
            with shards.for_queue(clean_queue_name(name)):
                return cls.get_queue(name, priority, **fields_if_new)
        found = get_queue.call(cls.database, queue_model=cls._name, name=clean_queue_name(name),
                               priority=clean_priority(priority))
        return cls._found(found.queue_pk, found.created, fields_if_new)

    @classmethod
    def _found(cls, pk: str, created: bool, fields_if_new: dict | None = None) -> "Queue":
        """The queue a script found or created (a created one gets its subclass fields set)."""
        queue = orm.instance(cls, pk)
        if created:
            orm.set_defaults(queue, cls._script_fields, fields_if_new or {})
        return queue

    @classmethod
    def get_all(cls, names: str | Iterable[str]) -> list["Queue"]:
        """All queues having one of the given names (a name, a comma-separated string, or a list);
        sharded, those of each shard in turn."""
        found = []
        for index, names_there in by_shard(normalize_names(names)):
            with shards.using(index):
                pks: set[str] = set()
                for name in names_there:
                    pks.update(cls.collection(name=name))
                found += [orm.instance(cls, pk) for pk in sorted(pks, key=int)]
        return found

    @classmethod
    def get_all_by_priority(cls, names: str | Iterable[str]) -> list["Queue"]:
        """``get_all`` sorted by priority (highest first), then in the order of the names given (a
        malformed priority last)."""
        return [orm.instance(cls, pk) for pk, _, _ in cls.by_priority(normalize_names(names))]

    @classmethod
    def by_priority(cls, names: Iterable[str] | None = None) -> list[tuple[str, str | None, int | None]]:
        """``(pk, name, priority)`` of the queues of these names (all if None), highest priority
        first, then in the order of ``names`` (by name if None) and by pk; a malformed priority
        (None) last. Two round trips."""
        connection = cls.get_connection()
        if names is None:
            pks = connection.smembers(KEYS.collection(model=cls._name))
        else:
            with connection.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.smembers(KEYS.index(model=cls._name, field="name", value=name))
                pks = set().union(*pipe.execute())
        ordered = sorted(pks, key=lambda pk: int(pk) if pk.isdigit() else 0)
        with connection.pipeline(transaction=False) as pipe:
            for pk in ordered:
                pipe.hmget(KEYS.hash(model=cls._name, pk=pk), "name", "priority")
            values = pipe.execute() if ordered else []
        found = []
        for pk, (name, priority) in zip(ordered, values, strict=True):
            try:
                number: int | None = parse_priority(priority or 0)
            except ValueError:  # malformed in Redis
                number = None
            found.append((pk, name, number))
        rank = {name: position for position, name in enumerate(names or ())}
        return sorted(found, key=lambda row: (row[2] is None, -(row[2] or 0), rank.get(row[1], len(rank)),
                                              row[1] or ""))

    @classmethod
    def get_waiting_keys(cls, names: str | Iterable[str]) -> list[str]:
        """Redis keys of the waiting lists of these queues, highest priority first, then in the
        order of the names given (as redis-limpyd-jobs)."""
        return [queue.waiting.key for queue in cls.get_all_by_priority(names)]

    @classmethod
    def count_waiting_jobs(cls, names: str | Iterable[str]) -> int:
        """Number of jobs waiting in the queues with these names, all priorities."""
        return sum(queue.waiting.llen() for queue in cls.get_all(names))  # each queue in its shard

    @classmethod
    def count_delayed_jobs(cls, names: str | Iterable[str]) -> int:
        """Number of delayed jobs in the queues with these names, all priorities."""
        return sum(queue.delayed.zcard() for queue in cls.get_all(names))  # each queue in its shard

    @property
    def due_set(self) -> DueSet:
        """The ``delayed`` sorted set, as a due set."""
        return DueSet(self.get_connection(), self.delayed.key, self.clock)

    @property
    def first_delayed(self) -> tuple[str, float] | None:
        """``(job ident, timestamp)`` of the delayed job due first, or None."""
        return self.due_set.first()

    @property
    def first_delayed_time(self) -> float | None:
        """Timestamp at which the first delayed job is due, or None."""
        first = self.first_delayed
        return first[1] if first else None

    def delay_job(self, job: "Job", delayed_until: datetime | str) -> None:
        """Put ``job`` in this queue's delayed set until ``delayed_until`` (even a past one)."""
        when = compute_delayed_until(delayed_until=delayed_until)
        if when is None:
            raise ValueError("delay_job needs a delayed_until datetime")
        job._enqueue(type(self), queue_pk=self.pk.get(), delayed=when, now_score=datetime_to_score(when) - 1)

    def enqueue_job(self, job: "Job", prepend: bool = False) -> None:
        """Put ``job`` in this queue's waiting list (at its start if ``prepend``)."""
        job._enqueue(type(self), queue_pk=self.pk.get(), prepend=prepend)

    def requeue_delayed_jobs(self) -> list[tuple[str, str]]:
        """Move the delayed jobs that are due to the waiting list; return ``(ident, reason)`` failures."""
        return self.requeue_delayed_jobs_of({self.pk.get(): self.name.hget() or ""})

    def purge_finished(
        self,
        keep: int | None = 10000,
        older_than: float | timedelta | None = None,
        max_entries: int = 1000,
        error_model: type["Error"] | None = None,
    ) -> int:
        """Delete finished jobs (and their errors) beyond the ``keep`` latest of each of the
        success and errors lists, or ended more than ``older_than`` (seconds) ago (a job with a
        ``finished_ttl`` field: that many seconds, instead).

        At most ``max_entries`` entries per list and call. Returns the number of jobs deleted.
        """
        return self.purge_finished_slice(keep, older_than, max_entries, error_model).deleted

    def purge_finished_slice(
        self,
        keep: int | None = 10000,
        older_than: float | timedelta | None = None,
        max_entries: int = 1000,
        error_model: type["Error"] | None = None,
    ) -> "PurgedSlice":
        """``purge_finished``, telling also whether a list may have more to remove (its slice of
        ``max_entries`` entries was full): the caller runs it again until it has caught up."""
        cutoff = ""
        if older_than is not None:
            delta = older_than if isinstance(older_than, timedelta) else timedelta(seconds=older_than)
            cutoff = datetime_to_str(self.clock.now() - delta)
        descriptions = json.dumps(purge_descriptions(job_models()))
        error_model = error_model or Error
        found_by_script = error_model.indexed_by_job()
        purged = purge_finished.call(self.database, keep=-1 if keep is None else keep, limit=max_entries,
                                     cutoff=cutoff, now_score=self.clock.time(), models_json=descriptions,
                                     error_model=orm.model_name(error_model) if found_by_script else "",
                                     list_keys=[self.success.key, self.errors.key])
        deleted, errors = purged.deleted, purged.errors
        if found_by_script:
            error_model.delete_pks(set(errors))
            if errors:  # deleted: out of the set where the script left them
                left = KEYS.purged_errors(model=orm.model_name(error_model))
                self.get_connection().srem(left, *set(errors))
        else:
            error_model.delete_for_jobs(deleted)
        return PurgedSlice(len(deleted), purged.full)

    @classmethod
    def requeue_delayed_jobs_of(cls, names_by_pk: dict[str, str]) -> list[tuple[str, str]]:
        """``requeue_delayed_jobs`` for several queues (pk -> name) in one round trip; returns
        ``(ident, reason)`` for the idents that name no job."""
        return requeue_delayed.call(cls.database, queue_model=cls._name, now_score=script_time(cls.clock),
                                    queues=names_by_pk).failures


class Job(orm.Snapshot, BaseJobsModel):
    """A thing to do, identified by ``identifier``, living in one queue at a time."""

    identifier = fields.InstanceHashField(indexable=True)
    status = StatusField(indexable=True)
    #: Filters read every job's hash (see ``orm.ScannedIndex``): an add writes no priority index.
    priority = fields.InstanceHashField(indexable=True, indexes=[orm.ScannedIndex], default=0)
    added = fields.InstanceHashField()
    start = fields.InstanceHashField()
    end = fields.InstanceHashField()
    tries = fields.InstanceHashField()
    delayed_until = fields.InstanceHashField()
    queued = fields.InstanceHashField(indexable=True)
    cancel_on_error = fields.InstanceHashField()
    #: ``<queue model name>:<pk>`` of the queue the job was last put in.
    queue_key = fields.InstanceHashField()
    #: ``<worker id>:<tries>``: the attempt running now; a finish from another attempt is refused.
    attempt = fields.InstanceHashField()
    #: Seconds this job may run before a worker in a forked mode kills it (default: the worker's).
    timeout = fields.InstanceHashField()
    #: The W3C trace context of the enqueue that made the job, when tracing is on (``tracing``).
    traceparent = fields.InstanceHashField()
    #: The ``attempt`` whose ``started`` (and ``succeeded``) events are written in ``history``; until
    #: then its fields tell them (see ``events()``).
    told = fields.InstanceHashField()
    #: What happened to the job, oldest first, one JSON object per event (see ``events()``); the
    #: scripts write each event with the change it tells, and retention deletes it with the job.
    history = fields.ListField()

    queue_model: type[Queue] = Queue
    queue_name: str | None = None
    always_cancel_on_error = False
    #: Retry settings of this model's jobs; None: the worker's option of the same name.
    requeue_times: int | None = None
    requeue_delay_delta: float | None = None
    requeue_priority_delta: int | None = None
    requeue_backoff: float | None = None
    requeue_jitter: float | None = None
    requeue_max_delay: float | None = None
    #: Exception classes a failed job of this model is never retried for (with the worker's own).
    never_retry: tuple[type[BaseException], ...] = ()
    #: The token of the attempt holding this instance (set by the worker that took the job):
    #: moving the job through it (``requeue``, ``enqueue_or_delay``...) is refused once another
    #: attempt took the job (a stale attempt writes nothing).
    _attempt_token = ""

    #: Fields that add_job and the worker manage themselves.
    _managed_fields = frozenset(
        {"identifier", "status", "priority", "added", "start", "end", "tries",
         "delayed_until", "queued", "queue_key", "attempt", "told", "history"}
    )
    _models_by_repr: dict[str, type["Job"]] = {}

    # --- identity

    @classmethod
    def get_model_repr(cls) -> str:
        """``module.ClassName`` of this model, the first part of a job's ident."""
        cached = cls.__dict__.get("_model_repr")
        if cached is None:
            cached = f"{cls.__module__}.{cls.__name__}"
            cls._model_repr = cached
        return cached

    @classmethod
    def _check_importable(cls) -> None:
        """Refuse to queue jobs of a model defined in ``__main__`` (a script being run): their
        ident, ``__main__.Name:pk``, names a model no worker can import."""
        if cls.__module__ == "__main__":
            raise ConfigurationException(
                f"{cls.__name__} is defined in __main__ (the script being run): its jobs would be stored "
                f"as '__main__.{cls.__name__}:<pk>', which no worker can import; move the class to an "
                "importable module (jobs.py...) and import it from the script")

    @property
    def ident(self) -> str:
        """``module.ClassName:pk``: what queues store to find the job back."""
        ident = self.__dict__.get("_ident")
        if ident is None:  # made once: a job's pk does not change
            ident = self._ident = f"{self.get_model_repr()}:{orm.pk_of(self)}"
        return ident

    @classmethod
    def model_for_repr(cls, model_repr: str) -> type["Job"]:
        """The Job model named by ``module.ClassName``: one defined in this process, or one of a
        module under ``importable_modules`` (imported then). An ident read from Redis never
        decides what else is imported: InvalidIdent says what was refused."""
        model = cls._models_by_repr.get(model_repr)
        if model is None:
            cls._models_by_repr.update((known.get_model_repr(), known) for known in job_models())
            model = cls._models_by_repr.get(model_repr) or cls._import_model(model_repr)
        return model

    #: Module prefixes whose Job models may be imported to read an ident (models defined in
    #: modules already imported need none); a worker adds those of its ``job_modules`` option.
    importable_modules: tuple[str, ...] = ("limpyd_jobs",)

    @classmethod
    def _import_model(cls, model_repr: str) -> type["Job"]:
        module, _, _ = model_repr.rpartition(".")
        if not any(module == prefix or module.startswith(prefix + ".") for prefix in Job.importable_modules):
            raise InvalidIdent(f"{model_repr!r} is not a Job model of this process, and its module is not "
                               f"among the importable ones ({', '.join(Job.importable_modules)}): import it "
                               "first, or give it to the worker's --job-modules")
        try:
            model = import_string(model_repr)
        except ImportError as exc:
            kind = UnknownModel if "has no attribute" in str(exc) else InvalidIdent
            raise kind(f"{model_repr!r} names no importable model: {exc}") from None
        if not (isinstance(model, type) and issubclass(model, Job)):
            raise InvalidIdent(f"{model_repr!r} is not a Job model")
        cls._models_by_repr[model_repr] = model
        return model

    @classmethod
    def register_models(cls) -> None:
        """Tell the scripts which limpyd model each Job model of this process is, so that they find
        a job's hash from its ident (a model is registered as jobs are added; older data needs this)."""
        known = job_models()
        cls.get_connection().hset(KEYS.job_models(), mapping={model.get_model_repr(): model._name
                                                              for model in known})
        orm.registered_models(cls.database).update(model._name for model in known
                                                   if model.database is cls.database)

    @classmethod
    def _unregistered(cls) -> bool:
        """Whether this process has not written this model in its database's models registry yet."""
        return cls._name not in orm.registered_models(cls.database)

    @classmethod
    def get_from_ident(cls, ident: str, lazy: bool = False) -> "Job":
        """Return the job an ident points to (``DoesNotExist`` if gone; no check if ``lazy``)."""
        model_repr, sep, pk = str(ident).rpartition(":")
        if not sep or not model_repr or not pk:
            raise InvalidIdent(f"{ident!r} is not a job ident like 'limpyd_jobs.models.Job:42'")
        model = cls.model_for_repr(model_repr)
        return orm.instance(model, pk) if lazy else model(pk)

    # --- properties

    @property
    def must_be_cancelled_on_error(self) -> bool:
        """True if the job must not be requeued after an error."""
        return bool(self.always_cancel_on_error or self.cancel_on_error.hget())

    def events(self) -> list[dict[str, Any]]:
        """The job's history, oldest first: dicts with ``event`` (added, started, succeeded, failed,
        skipped, requeued, due, recovered, untaken, canceled...), ``at`` (an aware UTC datetime, None
        when not known) and the event's details (worker, attempt, queue, priority, error...)."""
        return decoded_events(*read_history(self.get_connection(), self._name, orm.pk_of(self)))

    @property
    def duration(self) -> timedelta | None:
        """Time between ``start`` and ``end``, or None if either is missing."""
        start, end = (str_to_datetime(value) for value in self.hmget("start", "end"))
        if start is None or end is None:
            return None
        return end - start

    # --- adding and queueing

    @classmethod
    def add_job(
        cls,
        identifier: str,
        queue_name: str | None = None,
        priority: int = 0,
        queue_model: type[Queue] | None = None,
        prepend: bool = False,
        delayed_until: datetime | None = None,
        delayed_for: int | float | timedelta | None = None,
        **fields_if_new: Any,
    ) -> "Job":
        """Create a job and queue it, or return the job already queued with this identifier in a
        queue of this name (one job per identifier and queue name: another name adds another job).

        An existing job gets the higher of the two priorities (moving to that queue) and goes
        to the front of the list if ``prepend``; anything else about it is left unchanged.
        ``fields_if_new``: fields of a subclass, set on a new job only; plain InstanceHashFields
        are written by the same script, other fields (other types, custom or unique indexes)
        by limpyd first (more round trips; a unique value already taken raises its
        UniquenessError, and nothing is added).
        """
        return cls._add_job(identifier, queue_name, priority, queue_model, prepend, delayed_until,
                            delayed_for, fields_if_new)

    @classmethod
    def _add_job(cls, identifier: str, queue_name: str | None, priority: int, queue_model: type[Queue] | None,
                 prepend: bool, delayed_until: datetime | None, delayed_for: int | float | timedelta | None,
                 fields_if_new: dict[str, Any], script_fields: list[Any] | None = None) -> "Job":
        """add_job; ``script_fields``: the fields of a new job as add_job.lua takes them, prepared
        by the caller (who checked that the script writes them all), instead of ``fields_if_new``."""
        cls._check_importable()
        identifier = clean_identifier(identifier)
        queue_name = cls._resolve_queue_name(queue_name)
        if shards.sharded() and shards.shard_of(queue_name) != shards.current():  # in the queue's shard
            with shards.for_queue(queue_name):
                return cls._add_job(identifier, queue_name, priority, queue_model, prepend, delayed_until,
                                    delayed_for, fields_if_new, script_fields)
        queue_model = queue_model or cls.queue_model
        if type(priority) is not int or abs(priority) > MAX_PRIORITY:
            priority = clean_priority(priority)
        now = cls.clock.now()
        when = None if delayed_until is None and delayed_for is None else compute_delayed_until(
            delayed_until, delayed_for, cls.delays_start(now, delayed_for))
        now_str, now_score = stored(now)
        if when:
            now_score = cls.due_now_score(now_score)
        delayed_str, delayed_score = stored(when) if when else ("", "")
        limpyd_fields = None
        if script_fields is None:
            script_fields, limpyd_fields = fields_of_new_job(cls, fields_if_new)
        arguments = dict(job_model=cls._name, model_repr=cls.get_model_repr(), register=cls._unregistered(),
                         queue_model=queue_model._name, queue_name=queue_name, priority=priority,
                         identifier=identifier, now_str=now_str, now_score=now_score, delayed_str=delayed_str,
                         delayed_score=delayed_score, prepend=bool(prepend), fields=script_fields)
        if limpyd_fields is None:
            added = add_job.call(cls.database, **arguments)
        else:
            add = functools.partial(add_job.call, cls.database, **arguments)
            added = cls._add_made_by_limpyd(add, identifier, priority, limpyd_fields)
        orm.registered_models(cls.database).add(cls._name)
        if added.queue_created:
            queue_model._found(added.queue_pk, True)
        return orm.instance(cls, added.job_pk)

    @classmethod
    def _add_made_by_limpyd(cls, add: Callable[..., Any], identifier: str, priority: int,
                            values: dict[str, Any]) -> Any:
        """add_job of a job with fields only limpyd writes (other types, custom or unique
        indexes): limpyd makes the instance with them (UniquenessError: nothing is made), then
        the script makes it the queued job, unless a job of this identifier is queued by then."""
        found = add(new_job=add_job.NONE)
        if found.job_pk:
            return found
        made = cls()
        pk = made.pk.get()  # made now, with the fields' defaults
        try:
            made.set_fields(identifier=identifier, priority=priority, **values)
        except BaseException:  # limpyd would leave the instance made so far
            made.delete()
            raise
        added = add(new_job=pk)  # if this fails, the instance stays: queued, or never seen by a worker
        if added.job_pk != pk:  # queued meanwhile by another add_job: that job is the one
            made.delete()
        return added

    @classmethod
    def add_job_on_commit(cls, using: str | None = None, **kwargs: Any) -> None:
        """``add_job(**kwargs)`` once the current Django transaction (of database ``using``) commits,
        at once outside one; nothing if it rolls back. Needs Django (``contrib.django.transactions``)."""
        from .contrib.django.transactions import add_job_on_commit  # Django, only when asked for

        add_job_on_commit(cls, using=using, **kwargs)

    @classmethod
    def add_jobs(
        cls,
        jobs: Iterable[str | dict[str, Any]],
        queue_name: str | None = None,
        priority: int = 0,
        queue_model: type[Queue] | None = None,
        prepend: bool = False,
        delayed_until: datetime | None = None,
        delayed_for: int | float | timedelta | None = None,
        chunk_size: int = 1000,
        **fields_if_new: Any,
    ) -> list["Job"]:
        """``add_job`` for many jobs, in one round trip per ``chunk_size`` jobs.

        Each item is an identifier, or a dict with ``identifier`` and any ``add_job`` argument
        (``queue_name``, ``priority``, ``prepend``, ``delayed_for``... and fields), which wins
        over the ones given here. The rules for identifiers already queued are add_job's; an
        identifier given twice for a queue name acts as two add_job calls would (one job, the
        higher priority).
        Returns the jobs, in the order of the items. A model with fields that only limpyd writes
        (see ``add_job``) takes one add_job per item.
        """
        cls._check_importable()
        defaults = {"queue_name": queue_name, "priority": priority, "prepend": prepend,
                    "delayed_until": delayed_until, "delayed_for": delayed_for, **fields_if_new}
        queue_model = queue_model or cls.queue_model
        if shards.sharded():
            jobs = list(jobs)
            groups = cls._by_shard(jobs, defaults)
            if list(groups) != [shards.current()]:  # each shard's jobs added there
                added: list[Any] = [None] * len(jobs)
                for index, positions in groups.items():
                    with shards.using(index):
                        made = cls.add_jobs([jobs[position] for position in positions],
                                            queue_model=queue_model, chunk_size=chunk_size, **defaults)
                    for position, job in zip(positions, made, strict=True):
                        added[position] = job
                return added
        if not all(script_writes for _, script_writes in free_fields(cls).values()):
            # fields only limpyd writes: one add_job per item
            return [cls.add_job(queue_model=queue_model, **{**defaults, **(
                item if isinstance(item, dict) else {"identifier": item})}) for item in jobs]
        records, positions = cls._bulk_records(jobs, defaults, cls.clock.now())
        pks: list[str] = []
        for start in range(0, len(records), max(1, chunk_size)):
            pks += cls._add_chunk(records[start:start + chunk_size], queue_model)
        return [orm.instance(cls, pks[position]) for position in positions]

    @classmethod
    def _by_shard(cls, jobs: list[Any], defaults: dict[str, Any]) -> dict[int, list[int]]:
        """The positions of the items by the shard of their queue name."""
        groups: dict[int, list[int]] = {}
        for position, item in enumerate(jobs):
            name = {**defaults, **(item if isinstance(item, dict) else {})}["queue_name"]
            groups.setdefault(shards.shard_of(cls._resolve_queue_name(name)), []).append(position)
        return groups

    @classmethod
    def _bulk_records(
        cls, jobs: Iterable[Any], defaults: dict[str, Any], now: datetime
    ) -> tuple[list[list[Any]], list[int]]:
        """Validate the items into add_jobs.lua records, one per identifier and queue name (repeats
        merged)."""
        records: list[list[Any]] = []
        by_identifier: dict[tuple[str, str], int] = {}
        positions: list[int] = []
        shared: list[Any] | None = None  # the options of the plain identifiers, computed once
        for item in jobs:
            if isinstance(item, dict):
                values = {**defaults, **item}
                identifier = clean_identifier(values.pop("identifier", None))
                rest = cls._bulk_record(values, now)
            else:
                if shared is None:
                    shared = cls._bulk_record(dict(defaults), now)
                identifier, rest = clean_identifier(item), shared
            key = (identifier, rest[0])
            if key in by_identifier:  # as a second add_job would: priority up, maybe first
                record = records[by_identifier[key]]
                record[2] = max(record[2], rest[1])
                record[5] = max(record[5], rest[4])
                positions.append(by_identifier[key])
                continue
            by_identifier[key] = len(records)
            positions.append(len(records))
            records.append([identifier, *rest])
        return records, positions

    @classmethod
    def _bulk_record(cls, values: dict[str, Any], now: datetime) -> list[Any]:
        """An add_jobs.lua record, its identifier left out, from add_jobs' options (``values``,
        emptied of them: its fields remain)."""
        name = cls._resolve_queue_name(values.pop("queue_name"))
        priority = clean_priority(values.pop("priority"))
        delayed_for = values.pop("delayed_for")
        when = compute_delayed_until(values.pop("delayed_until"), delayed_for,
                                     cls.delays_start(now, delayed_for))
        prepend = int(bool(values.pop("prepend")))
        extra, _ = fields_of_new_job(cls, values)
        delayed = (datetime_to_str(when), datetime_to_score(when)) if when else ("", "")
        return [name, priority, *delayed, prepend, len(extra) // 3, *extra]

    @classmethod
    def _add_chunk(cls, records: list[list[Any]], queue_model: type[Queue]) -> list[str]:
        """Run add_jobs.lua for some records; return their job pks."""
        now_str, now_score = stored(cls.clock.now())
        if any(record[4] != "" for record in records):  # delayed jobs: due by Redis's clock
            now_score = cls.due_now_score(now_score)
        added = add_jobs.call(cls.database, job_model=cls._name, model_repr=cls.get_model_repr(),
                              register=cls._unregistered(), queue_model=queue_model._name, now_str=now_str,
                              now_score=now_score, records=records)
        orm.registered_models(cls.database).add(cls._name)
        for queue_pk in added.created_queues:
            queue_model._found(queue_pk, True)
        return [pk for pk, _ in added.jobs]

    @classmethod
    def _resolve_queue_name(cls, queue_name: str | None) -> str:
        queue_name = queue_name or cls.queue_name
        if not queue_name:
            raise InvalidValue(f"No queue name: pass queue_name, or set queue_name on {cls.__name__}")
        return clean_queue_name(queue_name)

    def enqueue_or_delay(
        self,
        queue_name: str | None = None,
        priority: int | None = None,
        delayed_until: datetime | str | None = None,
        prepend: bool = False,
        queue_model: type[Queue] | None = None,
    ) -> bool:
        """Put the job in the waiting list of its queue, or in its delayed set if due later;
        False if another attempt took the job since this instance's (nothing written)."""
        self._check_importable()
        queue_name = self._resolve_queue_name(queue_name)
        if priority is None:
            priority = self.priority.hget() or 0
        when = compute_delayed_until(delayed_until=delayed_until) if delayed_until else None
        return self._enqueue(queue_model or self.queue_model, queue_name=queue_name,
                             priority=clean_priority(priority), delayed=when, prepend=prepend)

    def _enqueue(
        self,
        queue_model: type[Queue],
        *,
        queue_pk: str = "",
        queue_name: str = "",
        priority: int = 0,
        delayed: datetime | None = None,
        prepend: bool = False,
        now_score: float | None = None,
        release_from: str = "",
    ) -> bool:
        """Run enqueue_job.lua: into the queue ``queue_pk``, or the one found (or created) by
        name and priority (the job then takes that priority); ``release_from``: a worker id.
        False if the attempt token of this instance is not the job's any more."""
        if "_shard" in self.__dict__ and self._shard != shards.current():  # in the job's shard
            with shards.using(self._shard):
                return self._enqueue(queue_model, queue_pk=queue_pk, queue_name=queue_name, priority=priority,
                                     delayed=delayed, prepend=prepend, now_score=now_score,
                                     release_from=release_from)
        delayed_str, delayed_score = stored(delayed) if delayed else ("", "")
        if now_score is None:
            now_score = self.due_now_score(self.clock.time()) if delayed else self.clock.time()
        enqueued = enqueue_job.call(
            self.database, job_model=self._name, pk=self.pk.get(), ident=self.ident,
            queue_model=queue_model._name, queue_pk=queue_pk, queue_name=queue_name, priority=priority,
            delayed_str=delayed_str,
            delayed_score=delayed_score, now_score=now_score,
            prepend=prepend, set_priority=not queue_pk, release_from=release_from, token=self._attempt_token)
        if enqueued.queue_created:
            queue_model._found(enqueued.queue_pk, True)
        return enqueued.enqueued

    def requeue(
        self,
        queue_name: str | None = None,
        priority: int | None = None,
        delayed_until: datetime | None = None,
        delayed_for: int | float | timedelta | None = None,
        queue_model: type[Queue] | None = None,
    ) -> bool:
        """Put a failed job back in its waiting list, or delayed set if a delay is given (False
        if another attempt took the job since this instance's: nothing written).

        Raises LimpydJobsException if the job is not in ERROR (the worker's own requeue, made
        through the attempt that failed, is checked by its attempt token instead)."""
        queue_name = self._resolve_queue_name(queue_name)
        status = STATUSES.ERROR if self._attempt_token else self.status.hget()
        if status != STATUSES.ERROR:
            raise LimpydJobsException(f"job {self.ident} cannot be requeued: it is not in ERROR but "
                                      f"{STATUSES.by_value(status, repr(status))}")
        start = self.delays_start(self.clock.now(), delayed_for)
        when = compute_delayed_until(delayed_until, delayed_for, start)
        return self.enqueue_or_delay(queue_name, priority, when, queue_model=queue_model)

    # --- execution and hooks (no-ops, for subclasses to override)

    #: True: the worker calls ``run`` even when it was given a callback (a task job runs its task).
    runs_itself = False

    def run(self, queue: Queue) -> Any:
        """The work itself, called by the worker when no callback is given."""
        raise NotImplementedError("You must implement your own action")  # redis-limpyd-jobs' words

    def fields_at_end(self) -> dict[str, str]:
        """Fields to write with the job's successful end, in the same script (a task: its result)."""
        return {}

    def retry_settings(self) -> Any:
        """What holds this job's retry settings (``requeue_times``... ``never_retry`` attributes):
        its class; a task job, its task's."""
        return type(self)

    def on_started(self, queue: Queue) -> None:
        """Called when the worker is about to run the job."""

    def on_success(self, queue: Queue, result: Any) -> None:
        """Called when the job ran without raising; ``result`` is what it returned."""

    def on_error(self, queue: Queue, exception: BaseException, traceback: str | None) -> None:
        """Called when the job raised ``exception``."""

    def on_skipped(self, queue: Queue) -> None:
        """Called when the job was not run (not WAITING), or was canceled while running."""

    def on_requeued(self, queue: Queue) -> None:
        """Called when the job failed and was put back in a queue."""

    def on_delayed(self, queue: Queue) -> None:
        """Called when the job was delayed (status set to DELAYED) instead of run."""


class Error(BaseJobsModel):
    """One failed run of a job: which job, where, when, and what was raised."""

    lockable = False  # created once, never updated: no need for limpyd's field locks

    job_model_repr = fields.InstanceHashField(indexable=True)
    job_pk = fields.InstanceHashField(indexable=True)
    identifier = fields.InstanceHashField(indexable=True)
    queue_name = fields.InstanceHashField(indexable=True)
    date_time = fields.InstanceHashField(indexable=True, indexes=[SimpleDateTimeIndex])
    date = fields.InstanceHashField(indexable=True)  # deprecated, kept for compatibility
    time = fields.InstanceHashField()  # deprecated, kept for compatibility
    type = fields.InstanceHashField(indexable=True)
    code = fields.InstanceHashField(indexable=True)
    message = fields.InstanceHashField()
    traceback = fields.InstanceHashField()

    @classmethod
    def add_error(
        cls,
        queue_name: str,
        job: Job,
        error: BaseException,
        when: datetime | None = None,
        trace: str | None = None,
        **additional_fields: Any,
    ) -> "Error":
        """Record ``error`` raised by ``job`` in queue ``queue_name`` (at ``when``, default now, UTC)."""
        return cls.add_error_for(queue_name, job.ident, job.identifier.hget(), error, when, trace,
                                 **additional_fields)

    @classmethod
    def add_error_for(cls, queue_name: str, ident: str, identifier: str, error: BaseException,
                      when: datetime | None = None, trace: str | None = None,
                      **additional_fields: Any) -> "Error":
        """``add_error`` for a job known by its ident and identifier (its model may not be loaded)."""
        when = to_utc(when) if when else cls.clock.now()
        model_repr, _, pk = ident.rpartition(":")
        values: dict[str, Any] = {
            "job_model_repr": model_repr,
            "job_pk": pk,
            "identifier": identifier,
            "queue_name": queue_name,
            "date_time": when.strftime("%Y-%m-%d %H:%M:%S"),
            "date": when.strftime("%Y-%m-%d"),
            "time": when.strftime("%H:%M:%S"),
            "type": type(error).__name__,
            "message": str(error),
        }
        code = getattr(error, "code", None)
        if code is not None:
            values["code"] = code
        if trace:
            values["traceback"] = trace
        values.update(additional_fields)
        return cls(**values)

    @classmethod
    def delete_for_jobs(cls, idents: Iterable[str]) -> int:
        """Delete the errors of these jobs (by ident); return how many were deleted."""
        count = 0
        for ident in idents:
            model_repr, _, pk = ident.rpartition(":")
            for error in cls.collection(job_model_repr=model_repr, job_pk=pk).instances():
                error.delete()
                count += 1
        return count

    @classmethod
    def indexed_by_job(cls) -> bool:
        """Whether ``job_model_repr`` and ``job_pk`` have plain EqualIndexes (a script finds the
        errors of a job then)."""
        return all(has_plain_index(cls.get_class_field(name)) and cls.get_class_field(name).indexable
                   for name in ("job_model_repr", "job_pk"))

    @classmethod
    def delete_pks(cls, pks: Iterable[str]) -> int:
        """Delete the errors of these pks (those gone already are skipped); return how many were deleted."""
        count = 0
        for pk in pks:
            if cls.exists(pk=pk):
                orm.instance(cls, pk).delete()
                count += 1
        return count

    @classmethod
    def collection_for_job(cls, job: Job) -> Any:
        """Errors of every job of this model sharing ``job``'s identifier (a limpyd collection)."""
        return cls.collection(job_model_repr=job.get_model_repr(), identifier=job.identifier.hget())

    @property
    def datetime(self) -> datetime | None:
        """The ``date_time`` field as a naive UTC datetime, as stored (and as redis-limpyd-jobs read it)."""
        moment = str_to_datetime(self.date_time.hget())
        return None if moment is None else naive_utc(moment)



def job_models() -> list[type[Job]]:
    """The Job models defined in this process (abstract ones left out); none is imported here."""
    found, pending = [], [Job]
    while pending:
        model = pending.pop()
        pending += model.__subclasses__()
        if not model.abstract:
            found.append(model)
    return found
