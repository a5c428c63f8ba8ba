"""Wrapper of set_aside.lua: move an ident that names no loadable job out of the running set."""

from __future__ import annotations

from typing import Any

from ..loader import LuaScript

SCRIPT = LuaScript("set_aside")


def call(database: Any, *, worker: str, ident: str, list_key: str) -> None:
    SCRIPT(database, args=[worker, ident, list_key])
