"""What limpyd-jobs asks of redis-limpyd and redis-py beyond their documented APIs, in one place.

Instances built without a round trip, fields made on first use, the kept connection scripts use,
private names read (model names, pks, pk fields), Redis's clock offset, and ``JobsDatabase``
(HELLO for the version, sentinels through ``connection.client_for``). docs/ARCHITECTURE.md lists
them; ``tests/redis/test_orm.py`` holds the contract.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from copy import copy
from typing import Any, TypeVar

from limpyd.contrib.database import PipelineDatabase
from limpyd.contrib.related import RelatedModel
from limpyd.fields import InstanceHashField, RedisField, RedisProxyCommand
from limpyd.indexes import EqualIndex
from limpyd.model import RedisModel
from redis.client import Pipeline
from redis.exceptions import ResponseError

from . import shards

Model = TypeVar("Model", bound=RedisModel)


def instance(model: type[Model], pk: Any) -> Model:
    """An instance of ``model`` for ``pk``, with no round trip: ``pk`` must exist."""
    built = model.__new__(model)
    built.lockable = model.lockable
    built._connected = True
    built._init_fields = set()
    built.get_field = built.get_instance_field
    built.get_fields = built.get_instance_fields
    built._pk = model._redis_attr_pk.normalize(pk)
    if shards.sharded():
        built._shard = shards.current()
    return built


def model_name(model: type[RedisModel] | RedisModel) -> str:
    """The name limpyd gives a model in its keys (``jobs:job`` for ``Job``)."""
    return model._name


def pk_of(built: RedisModel) -> str:
    """The pk of an instance: the one it was built with if known, else read (a round trip)."""
    return built._pk or built.pk.get()


def pk_field(model: type[RedisModel]) -> Any:
    """A model's primary key field (limpyd keeps it under a private name)."""
    return model._redis_attr_pk


def shut_down(connection: Any) -> None:
    """Shut a redis-py connection's socket down, ending a read blocked on it (safe in a signal
    handler: nothing is allocated, nothing raised)."""
    sock = getattr(connection, "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _add_related_collections(built: RelatedModel) -> None:
    """What ``RelatedModel.__init__`` adds: the collections of the related fields of other
    models pointing to this one (``related_name``), and their names in ``related_collections``."""
    built.related_collections = []
    relations = getattr(built.database, "_relations", {}).get(built._name.lower(), [])
    for model_name, field_name, _ in relations:
        field = built.database._models[model_name].get_field(field_name)
        setattr(built, field.related_name, field.related_collection_class(built, field))
        built.related_collections.append(field.related_name)


def move_relations(original: Any, database: Any, models: Iterable[type[RedisModel]]) -> None:
    """Move the relations (related fields) of ``models`` from the ``original`` database to
    ``database``: what ``RelatedModel.use_database`` does, which raises KeyError as soon as one
    of the models moved has no relation while others of the database have some."""
    relations = getattr(original, "_relations", None)
    if not relations or original is database:
        return
    names = {model._name for model in models if not model.abstract}
    if not hasattr(database, "_relations"):
        database._relations = {}
    for related_model, entries in relations.items():
        for entry in [entry for entry in entries if entry[0] in names]:
            entries.remove(entry)
            database._relations.setdefault(related_model, []).append(entry)


def set_defaults(built: RedisModel, skip: Iterable[str], values: dict[str, Any]) -> None:
    """Give the fields of a new instance that a script did not write their value or default."""
    skip = set(skip)
    for field in built.get_fields():
        name = field.name
        if name in skip or name == "pk" or field is built.pk:
            continue
        if name in values:
            field.proxy_set(values[name])
        elif hasattr(field, "default"):
            field.proxy_set(field.default)


def _in_its_shard(call: Callable[..., Any]) -> Callable[..., Any]:
    """limpyd's ``_call_command`` run in the shard of the instance it is for (the one it was made
    in), its keys, indexes and, on a cluster, its connection with it."""
    def run(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        index = getattr(getattr(self, "_instance", self), "__dict__", {}).get("_shard")
        if index is None or index == shards.current():
            return call(self, name, *args, **kwargs)
        with shards.using(index):
            return call(self, name, *args, **kwargs)
    run.in_its_shard = True  # type: ignore[attr-defined]
    return run


for _proxy in (RedisProxyCommand, RedisField):
    if not getattr(_proxy.__dict__["_call_command"], "in_its_shard", False):
        _proxy._call_command = _in_its_shard(_proxy.__dict__["_call_command"])


class LazyFields:
    """Mixed into a limpyd model: an instance built by ``instance()`` makes each field when it
    is first used (and, for a ``RelatedModel``, its related collections)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or "_pk" not in self.__dict__:
            raise AttributeError(name)
        model = type(self)
        if name == "pk":
            field = model._redis_attr_pk
        elif model.has_field(name):
            field = model.get_class_field(name)
        elif isinstance(self, RelatedModel) and "related_collections" not in self.__dict__:
            _add_related_collections(self)
            return getattr(self, name)
        else:
            raise AttributeError(f"{model.__name__!r} object has no attribute {name!r}")
        field = _copy_field(field)
        field._attach_to_instance(self)
        if isinstance(field, InstanceHashField) and isinstance(self, Snapshot):
            self._serve_from_snapshot(field)
        self.__dict__[name] = field
        return field


#: What a plain field's ``__dict__`` may hold for ``_copy_field`` to copy it as a dict.
_PLAIN_ATTRIBUTES = frozenset({"_creation_order", "_indexes", "_model", "default", "index_classes",
                               "indexable", "lockable", "name", "unique"})
_PLAIN_TYPES: dict[type, bool] = {}


def _copy_field(field: Any) -> Any:
    """A copy of a model's field, as limpyd's ``__copy__`` makes it (its constructor's attributes,
    ``name``, ``_model``), made as a copy of its ``__dict__`` when its type adds nothing to that."""
    field_type = type(field)
    plain = _PLAIN_TYPES.get(field_type)
    if plain is None:
        plain = _PLAIN_TYPES[field_type] = (field_type.__copy__ is RedisField.__copy__
                                            and field_type._copy_conf is RedisField._copy_conf
                                            and field_type.__init__ is RedisField.__init__)
    if not plain or not field.__dict__.keys() <= _PLAIN_ATTRIBUTES:
        return copy(field)
    copied = object.__new__(field_type)
    copied.__dict__.update(field.__dict__)
    return copied


class Snapshot:
    """Mixed into a limpyd model (with ``LazyFields``): an instance given the values of its hash
    (``take_snapshot``) serves reads of its InstanceHashFields (the field's ``hget``, the model's
    ``hmget``) from them, without a round trip, until that field is written through this instance
    (``hset``, ``hdel``, ``hmset``...) or ``drop_snapshot()``. Build the instance with
    ``instance()`` and take the snapshot before its fields are first used."""

    _snapshot: dict[str, str | None] | None = None

    def take_snapshot(self, values: dict[str, str]) -> None:
        """Serve reads from ``values`` (the whole hash: a field not in it is None)."""
        snapshot: dict[str, str | None] = dict.fromkeys(self._instancehash_fields)
        snapshot.update(values)
        self._snapshot = snapshot

    def drop_snapshot(self) -> None:
        """Read from Redis again."""
        self._snapshot = None

    def _serve_from_snapshot(self, field: Any) -> None:
        """Route the field's commands (one attribute set: fields are made per job): ``hget``
        served from the snapshot, a write forgetting the field's value in it."""
        name, call, modifiers = field.name, field._call_command, field.available_modifiers

        def command(command: str, *args: Any, **kwargs: Any) -> Any:
            snapshot = self._snapshot
            if snapshot is not None:
                if command == "hget":
                    if name in snapshot:
                        return snapshot[name]
                elif command in modifiers:
                    snapshot.pop(name, None)
            return call(command, *args, **kwargs)

        field._call_command = command

    def _call_hmget(self, command: str, names: Any) -> Any:
        snapshot = self._snapshot
        if snapshot is not None and all(name in snapshot for name in names):
            return [snapshot[name] for name in names]
        return self._traverse_command(command, names)

    def _call_hmset(self, command: str, values: dict[str, Any]) -> Any:
        self._forget(values)
        return self._traverse_command(command, values)

    def _call_hdel(self, command: str, *names: str) -> Any:
        self._forget(names)
        return self._traverse_command(command, *names)

    def _forget(self, names: Iterable[str]) -> None:
        if self._snapshot is not None:
            for name in names:
                self._snapshot.pop(name, None)


class ScannedIndex(EqualIndex):
    """An EqualIndex that stores nothing: a filter reads the field in every instance's hash
    (O(N) in the model's instances), so that writing the field costs no index command."""

    #: Instances read per pipelined round trip while filtering.
    chunk = 1000

    def store(self, key: str, pk: Any, **kwargs: Any) -> bool:
        return False

    def unstore(self, key: str, pk: Any, **kwargs: Any) -> bool:
        return False

    def get_filtered_keys(self, suffix: str, *args: Any, **kwargs: Any) -> list[tuple[str, str, bool]]:
        """A temporary set of the pks whose field has the value (or one of the values, for ``in``)."""
        self._check_key_accepted_key_types(kwargs.get("accepted_key_types"))
        values = set(args[-1]) if suffix == "in" else {args[-1]}
        if not values:
            return []
        wanted = {self.normalize_value(value) for value in values}
        model, connection, name = self.model, self.connection, self.field.name
        found: list[str] = []
        batch: list[str] = []
        for pk in connection.sscan_iter(model.get_field("pk").collection_key, count=self.chunk):
            batch.append(pk)
            if len(batch) >= self.chunk:
                found += self._matching(connection, model, name, batch, wanted)
                batch = []
        found += self._matching(connection, model, name, batch, wanted)
        tmp_key = self._unique_key("tmp")
        for start in range(0, len(found), self.chunk):
            connection.sadd(tmp_key, *found[start:start + self.chunk])
        return [(tmp_key, "set", True)]

    @staticmethod
    def _matching(connection: Any, model: Any, name: str, pks: list[str], wanted: set[str]) -> list[str]:
        if not pks:
            return []
        with connection.pipeline(transaction=False) as pipe:
            for pk in pks:
                pipe.hget(model.make_key(model._name, pk, "hash"), name)
            values = pipe.execute()
        return [pk for pk, value in zip(pks, values, strict=True) if value is not None and value in wanted]


_PIPELINE_TYPES: dict[type, bool] = {}


def is_pipeline(client: Any) -> bool:
    """Whether a database's client (``database.connection``) is a limpyd pipeline: its models
    are inside one right now, in this thread."""
    client_type = type(client)
    known = _PIPELINE_TYPES.get(client_type)
    if known is None:
        known = _PIPELINE_TYPES[client_type] = issubclass(client_type, Pipeline)
    return known


class _KeptConnections:
    """The connections one thread keeps, one per pool; given back to their pools when the
    thread ends (its thread-local storage is dropped)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.by_pool: dict[int, tuple[Any, Any]] = {}

    def __del__(self) -> None:
        if self.pid != os.getpid():  # a forked child: the pool resets itself
            return
        for pool, connection in self.by_pool.values():
            try:
                pool.release(connection)
            except Exception:  # the pool may be gone already at interpreter exit
                pass


_local = threading.local()


def connected(connection: Any) -> Any:
    """``connection``, pointed at the master the sentinels name now if it is a disconnected
    connection to a sentinels' master (sending on it reconnects to the last address it knew)."""
    pool = getattr(connection, "connection_pool", None)  # only sentinel-managed connections have one
    if pool is not None and getattr(connection, "_sock", True) is None and getattr(pool, "is_master", False):
        connection.host, connection.port = pool.get_master_address()
    return connection


def kept_connection(client: Any) -> Any:
    """The raw connection this thread (and process) keeps on the pool of a database's client
    (``database.connection``)."""
    kept = getattr(_local, "kept", None)
    if kept is None or kept.pid != os.getpid():
        kept = _local.kept = _KeptConnections()
    pool = client.connection_pool
    entry = kept.by_pool.get(id(pool))
    if entry is None or entry[0] is not pool:
        entry = kept.by_pool[id(pool)] = (pool, pool.get_connection())
    return entry[1]


class JobsDatabase(PipelineDatabase):
    """limpyd's PipelineDatabase (``use_database`` takes either), reading the version of the
    server with HELLO instead of INFO, which Redis ACLs class as a dangerous command.

    ``connection_settings`` may be read on first use (see ``lazy``); ``reset(**settings)`` sets
    them, and then nothing is read."""

    _read_settings: Callable[[], dict[str, Any]] | None = None

    @classmethod
    def lazy(cls, read_settings: Callable[[], dict[str, Any]]) -> JobsDatabase:
        """A database whose settings are ``read_settings()``, called when first needed (its
        errors are raised then, and again at the next use, until ``reset`` sets settings)."""
        database = cls()
        database._read_settings = read_settings
        return database

    @property
    def connection_settings(self) -> dict[str, Any]:
        """The ``redis.Redis()`` keyword arguments of this database."""
        read = self._read_settings
        if read is not None:
            self._connection_settings = read()
            self._read_settings = None
            _configure_shards(self._connection_settings)
        return self._connection_settings

    @connection_settings.setter
    def connection_settings(self, settings: dict[str, Any]) -> None:
        self._read_settings = None
        self._connection_settings = settings
        self.__dict__.pop("registered_models", None)
        _configure_shards(settings)

    def connect(self, **settings: Any) -> Any:
        """The client of these settings (default: the database's), one per settings in the
        process; on the master of a service when the settings name sentinels; on a Redis Cluster
        with shards, one per shard (on the master of its slot)."""
        from .connection import client_for

        settings = settings or self.connection_settings
        route = shards.prefix() if "cluster_nodes" in settings else None
        key = repr(sorted(settings.items())) + (route or "")
        if key not in self._connections:
            self._connections[key] = client_for(settings, decode_responses=True, route=route)
            self.ensure_redis_versions()
        return self._connections[key]

    @property
    def _connection(self) -> Any:
        """limpyd's: this thread's pipeline, else the direct client (the current shard's on a
        Redis Cluster with shards)."""
        found = PipelineDatabase._connection.fget(self)
        if not shards.sharded() or found is None or is_pipeline(found):
            return found
        return self.connect() if "cluster_nodes" in self.connection_settings else found

    @_connection.setter
    def _connection(self, value: Any) -> None:
        PipelineDatabase._connection.fset(self, value)

    @property
    def redis_version(self) -> tuple[int, ...]:
        if not hasattr(self, "_redis_version"):
            try:
                hello = self.connection.execute_command("HELLO")
                version = (hello if isinstance(hello, dict) else dict(zip(hello[::2], hello[1::2],
                                                                          strict=False)))["version"]
            except ResponseError:  # Redis before 6 has no HELLO (nor ACLs)
                version = self.connection.info()["redis_version"]
            self._redis_version = tuple(int(part) for part in str(version).split(".")[:3])
        return self._redis_version


def _configure_shards(settings: dict[str, Any]) -> None:
    """The shards a URL names (``?shards=S``) become the process's."""
    if "shards" in settings:
        shards.configure(settings["shards"], settings.get("shard_table") or None)


def registered_models(database: Any) -> set[str]:
    """The Job models whose repr this process wrote in the models registry of ``database`` (adding
    a job registers its model only the first time: one write less per add). Forgotten when a
    ``JobsDatabase`` is pointed elsewhere; a model missing from the registry anyway is registered
    by the first take of one of its jobs."""
    return database.__dict__.setdefault("registered_models", set())


def note_server_time(database: Any, server_now: float) -> float:
    """Note how far Redis's clock is from this host's (``server_now``, read by a script just now);
    returns the offset (seconds Redis is ahead): for wake-ups, and where delays start."""
    offset = database.__dict__["server_offset"] = server_now - time.time()
    database.__dict__["server_offset_at"] = time.monotonic()
    return offset


def server_offset(database: Any, max_age: float = 60.0) -> float:
    """How far Redis's clock is ahead of this host's: as last noted, or read (TIME) if that was
    more than ``max_age`` seconds ago."""
    noted = database.__dict__.get("server_offset_at")
    if noted is None or time.monotonic() - noted > max_age:
        seconds, microseconds = database.connection.time()
        return note_server_time(database, seconds + microseconds / 1_000_000)
    return database.__dict__["server_offset"]


def local_time(database: Any, server_score: float | None) -> float | None:
    """A time of Redis's clock (a due time) on this host's clock, by the offset last noted."""
    if server_score is None:
        return None
    return server_score - database.__dict__.get("server_offset", 0.0)
