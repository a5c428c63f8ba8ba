"""The Lua scripts behind every operation that must be atomic (and one round trip).

Each ``NAME.lua`` file in this folder documents its KEYS, ARGV and return value in its header;
``lib.lua`` holds the helpers every script shares and is prepended to each of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent
_PRELUDE = (_HERE / "lib.lua").read_text()


class LuaScript:
    """One script of this folder, called through limpyd's ``database.call_script``.

    Going through limpyd keeps pipelines working and registers the script once per process.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = _PRELUDE + "\n" + (_HERE / f"{name}.lua").read_text()
        self._script: dict[str, Any] = {"lua": self.source}

    def __call__(self, database: Any, keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
        return database.call_script(self._script, list(keys), list(args))

    def __repr__(self) -> str:
        return f"<LuaScript {self.name}>"


get_queue = LuaScript("get_queue")
add_job = LuaScript("add_job")
enqueue_job = LuaScript("enqueue_job")
fetch_job = LuaScript("fetch_job")
start_job = LuaScript("start_job")
finish_job = LuaScript("finish_job")
requeue_delayed = LuaScript("requeue_delayed")
recover_jobs = LuaScript("recover_jobs")
