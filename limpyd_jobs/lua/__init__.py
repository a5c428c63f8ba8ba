"""The Lua scripts behind every operation that must be atomic (and one round trip).

Each ``NAME.lua`` file in this folder documents its KEYS, ARGV and return value in its header;
``lib.lua`` holds the helpers every script shares and is prepended to each of them.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis.client import Pipeline
from redis.exceptions import ConnectionError, NoScriptError, TimeoutError

_HERE = Path(__file__).parent
_PRELUDE = (_HERE / "lib.lua").read_text()
_DEFINITION = re.compile(r"^local function (\w+)\(", re.MULTILINE)


def _link(body: str) -> str:
    """The parts of lib.lua that ``body`` needs (constants, and the helpers it calls, with the
    helpers those call), in their order in lib.lua, followed by ``body``.

    Lua runs a script's top level at every call: defining only the helpers a script uses saves
    time on each call of the hot paths.
    """
    starts = [match.start() for match in _DEFINITION.finditer(_PRELUDE)]
    header = _PRELUDE[:starts[0]]
    blocks = {}
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(_PRELUDE)
        blocks[_DEFINITION.match(_PRELUDE, start).group(1)] = _PRELUDE[start:end]
    needed: set[str] = set()
    pending = [body]
    while pending:
        text = pending.pop()
        for name, block in blocks.items():
            if name not in needed and re.search(rf"\b{name}\(", text):
                needed.add(name)
                pending.append(block)
    return header + "".join(block for name, block in blocks.items() if name in needed) + "\n" + body
_local = threading.local()

try:  # hiredis packs a command in C: the hot paths call it directly
    from hiredis import pack_command as _hiredis_pack
except ImportError:  # pragma: no cover - hiredis is a dependency
    _hiredis_pack = None


def _dedicated_connection(client: Any) -> Any:
    """A connection of ``client``'s pool kept by this thread (and process) for script calls."""
    connections = _local.__dict__.setdefault("connections", {})
    key = (id(client.connection_pool), os.getpid())
    connection = connections.get(key)
    if connection is None:
        connection = connections[key] = client.connection_pool.get_connection()
    return connection


_PIPELINE_TYPES: dict[type, bool] = {}


def _is_pipeline(client_type: type) -> bool:
    known = _PIPELINE_TYPES.get(client_type)
    if known is None:
        known = _PIPELINE_TYPES[client_type] = issubclass(client_type, Pipeline)
    return known


class LuaScript:
    """One script of this folder, sent with EVALSHA on a connection kept for hot paths.

    The hot paths (add, fetch, finish) are one round trip each; going around redis-py's command
    layer halves the client time they cost. Inside a limpyd pipeline the script goes through
    limpyd's ``database.call_script`` instead, so that it is part of the pipeline.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = _link((_HERE / f"{name}.lua").read_text())
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self._script: dict[str, Any] = {"lua": self.source}

    def __call__(self, database: Any, keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
        client = database.connection
        if _is_pipeline(type(client)):
            return database.call_script(self._script, list(keys), list(args))
        connection = _dedicated_connection(client)
        command = ("EVALSHA", self.sha, len(keys), *keys, *args)
        packed = [_hiredis_pack(command)] if _hiredis_pack else connection.pack_command(*command)
        for _ in range(2):
            try:
                connection.send_packed_command(packed)
            except (ConnectionError, TimeoutError):  # nothing was sent: safe to send again
                connection.disconnect()
                continue
            try:
                return connection.read_response()
            except NoScriptError:
                client.script_load(self.source)
            except (ConnectionError, TimeoutError):  # it may have run: never send it twice
                connection.disconnect()
                raise
        connection.send_packed_command(packed)
        return connection.read_response()

    def __repr__(self) -> str:
        return f"<LuaScript {self.name}>"


get_queue = LuaScript("get_queue")
add_job = LuaScript("add_job")
add_jobs = LuaScript("add_jobs")
enqueue_job = LuaScript("enqueue_job")
fetch_job = LuaScript("fetch_job")
start_job = LuaScript("start_job")
finish_job = LuaScript("finish_job")
finish_and_take_next = LuaScript("finish_and_take_next")
requeue_delayed = LuaScript("requeue_delayed")
recover_jobs = LuaScript("recover_jobs")
purge_finished = LuaScript("purge_finished")
pending_schedule = LuaScript("pending_schedule")
pending_take = LuaScript("pending_take")
pending_delete = LuaScript("pending_delete")
dispatch_due = LuaScript("dispatch_due")
