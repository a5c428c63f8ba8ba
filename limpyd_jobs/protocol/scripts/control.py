"""Wrapper of control.lua: set (HALT) or lift the order every worker and dispatcher reads."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..loader import LuaScript
from ..vocabulary import ControlOrder

SCRIPT = LuaScript("control")

#: What the control key says while workers and dispatchers must stop after their current task.
HALT = ControlOrder.HALT.value


class Ordered(NamedTuple):
    order: str  # what the control key holds now ('' for nothing)
    woken: int  # the workers woken up to read it


def call(database: Any, *, order: str) -> Ordered:
    order_now, woken = SCRIPT(database, args=[order])
    return Ordered(order_now, woken)
