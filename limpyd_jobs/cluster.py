"""Redis Cluster, one slot: a ``redis.Redis`` whose connections go to the master of the slot
of limpyd-jobs' keys (the hash tag of ``LIMPYD_JOBS_PREFIX``, ``{jobs}``).

Every key limpyd-jobs and limpyd write is then in that slot, so a plain client on its master
runs what a standalone Redis runs (scripts, pipelines; not SORT BY), one round trip as before.
A connection asks the cluster where the slot is each time it connects; a reply saying the command
did not run there (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, READONLY, a script's non-local key)
disconnects it and raises ``SlotMoved``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    ReadOnlyError,
    RedisError,
    ResponseError,
    TryAgainError,
)

from .constants import LOGGER_NAME

logger = logging.getLogger(LOGGER_NAME)

#: Replies of a cluster node meaning the command did not run there (a replica refuses any write).
_ELSEWHERE = (MovedError, AskError, ClusterDownError, TryAgainError, ReadOnlyError)
#: A script's first key was not in a slot of this node: every key being in one slot, it wrote nothing.
_NON_LOCAL = "Script attempted to access a non local key"
#: Seconds a node has to answer CLUSTER SLOTS.
ASK_TIMEOUT = 2.0


class SlotMoved(redis.exceptions.ConnectionError):
    """The slot is served by another node now (or by none yet): the command did not run, and
    the connection asks again where the slot is when it reconnects."""


class SlotFinder:
    """Where the master of one slot is: asked of the nodes known (those of the URL, then every
    node the cluster listed), the last one that answered first; the node named must say it is
    a master (ROLE)."""

    def __init__(self, nodes: list[tuple[str, int]], route: str, settings: dict[str, Any]) -> None:
        self.nodes = list(dict.fromkeys(nodes))
        self.slot = key_slot(route.encode())
        self.route = route
        self.settings = {name: value for name, value in settings.items()
                         if name not in ("host", "port", "db", "decode_responses", "connection_pool")}
        self.settings["socket_timeout"] = self.settings["socket_connect_timeout"] = ASK_TIMEOUT
        self._lock = threading.Lock()

    def master(self) -> tuple[str, int]:
        """The address of the slot's master, as the first node that answers says."""
        with self._lock:
            nodes = list(self.nodes)
        errors = []
        for host, port in nodes:
            try:
                with redis.Redis(host=host, port=port, **self.settings) as client:
                    slots = client.execute_command("CLUSTER", "SLOTS")
            except RedisError as exc:
                errors.append(f"{host}:{port}: {exc}")
                continue
            found = self._read(slots, (host, port))
            if found is None:
                errors.append(f"{host}:{port}: slot {self.slot} has no master")
            elif self._is_master(found):
                return found
            else:  # a view gone stale (a master restarted, not yet told it is a replica now)
                errors.append(f"{host}:{port}: {found[0]}:{found[1]} is no master")
        raise SlotMoved(f"no node says where the slot of {self.route!r} is: " + "; ".join(errors))

    def _is_master(self, address: tuple[str, int]) -> bool:
        try:
            with redis.Redis(host=address[0], port=address[1], **self.settings) as client:
                return _text(client.execute_command("ROLE")[0]) == "master"
        except RedisError:
            return False

    def _read(self, slots: list[Any], answered: tuple[str, int]) -> tuple[str, int] | None:
        known, found = [answered], None
        for start, end, *servers in slots:
            addresses = [(_text(server[0]) or answered[0], int(server[1])) for server in servers]
            known += addresses
            if int(start) <= self.slot <= int(end) and addresses:
                found = addresses[0]
        with self._lock:
            self.nodes = list(dict.fromkeys(known + self.nodes))
        return found


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SlotConnection:
    """Mixed before a redis-py ``Connection`` class: connects to the master of the finder's slot."""

    def __init__(self, *args: Any, slot_finder: SlotFinder, **kwargs: Any) -> None:
        self.slot_finder = slot_finder
        super().__init__(*args, **kwargs)

    def _connect(self) -> Any:
        """The socket (redis-py's every way of connecting ends here), to the slot's master now."""
        self.host, self.port = self.slot_finder.master()
        return super()._connect()

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().read_response(*args, **kwargs)
        except ResponseError as exc:
            if not isinstance(exc, _ELSEWHERE) and not str(exc).startswith(_NON_LOCAL):
                raise
            self.disconnect()
            logger.warning("Redis Cluster: %s; asking where the slot is now", exc)
            raise SlotMoved(str(exc)) from None


_CLASSES: dict[type, type] = {}


def slot_client(nodes: list[tuple[str, int]], route: str, settings: dict[str, Any]) -> redis.Redis:
    """A ``redis.Redis`` (``settings``: its other arguments) on the master of ``route``'s slot."""
    if not nodes:
        raise ValueError("a Redis Cluster needs at least one node")
    host, port = nodes[0]
    client = redis.Redis(host=host, port=port, **settings)
    pool = client.connection_pool
    base = pool.connection_class
    if base not in _CLASSES:
        _CLASSES[base] = type(f"Slot{base.__name__}", (SlotConnection, base), {})
    pool.connection_class = _CLASSES[base]
    pool.connection_kwargs["slot_finder"] = SlotFinder(nodes, route, settings)
    return client
