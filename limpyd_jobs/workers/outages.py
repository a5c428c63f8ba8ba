"""Riding out Redis outages: which errors are outages, and the backoff between two tries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import redis

#: Redis errors after which a worker waits and tries again.
OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)

T = TypeVar("T")


class Backoff:
    """Capped exponential backoff: ``start`` seconds, doubling up to ``maximum``."""

    def __init__(self, start: float = 0.5, maximum: float = 30.0) -> None:
        self.start = start
        self.maximum = maximum
        self.delay = start

    def next(self) -> float:
        """The delay to wait now; the next one doubles."""
        delay = self.delay
        self.delay = min(self.delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self.delay = self.start


def retrying(call: Callable[[], T], what: str, give_up: threading.Event,
             log: Callable[[str, str], None]) -> T:
    """``call()``, tried again after each outage (with backoff) until it succeeds, or until
    ``give_up`` is set (the outage error is then raised)."""
    backoff = Backoff()
    while True:
        try:
            return call()
        except OUTAGE_ERRORS as exc:
            if give_up.is_set():
                raise
            delay = backoff.next()
            log(f"Redis unavailable ({exc}) {what}: retrying in {delay:.1f}s", "warning")
            give_up.wait(delay)
