"""Riding out Redis outages: which errors are outages, and how to wait until Redis works again.

An outage is any Redis error that says "not now" rather than "never": the connection is down or
timed out, the server is loading its data, busy running a script, out of memory
(``maxmemory`` with ``noeviction``), read-only (a replica after a failover), has no master, or
its replicas did not acknowledge a write in time (``?replicas=N``). Behind sentinels, the next
connection asks them for the master: a failover is an outage like the others.
A worker, the sweeper and the dispatcher log an outage, wait, and try again; they never exit
for one, and never drop a job. While waiting they ask Redis with PING at least once a second, so
work resumes within a second of Redis answering again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.exceptions import RedisError, ResponseError


class NotReplicated(RedisError):
    """A write ran, but fewer replicas than asked (``?replicas=N``) acknowledged it in time: it
    is not acknowledged to its caller, who sends it again (the scripts that acknowledge jobs are
    safe to send again) once replicas answer."""


#: Errors that are outages whatever they say.
OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.BusyLoadingError,
                 redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError,
                 redis.exceptions.MasterDownError, redis.exceptions.TryAgainError,
                 redis.exceptions.ClusterDownError, NotReplicated)
#: Server replies that are outages (redis-py raises a plain ResponseError for some of them);
#: UNBLOCKED: a blocking read ended by a master turned replica (a failover).
OUTAGE_REPLIES = ("BUSY", "LOADING", "OOM", "READONLY", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN",
                  "CLUSTERDOWN", "UNBLOCKED")
#: Seconds between two looks at a Redis that does not answer, at the most.
PROBE_INTERVAL = 1.0
#: Seconds between two log lines about the same outage.
LOG_INTERVAL = 30.0

T = TypeVar("T")


def is_outage(error: BaseException) -> bool:
    """Whether a Redis error means "try again later"."""
    if isinstance(error, OUTAGE_ERRORS):
        return True
    return isinstance(error, ResponseError) and str(error).startswith(OUTAGE_REPLIES)


class Outage:
    """One outage, from the error that showed it until Redis answers: ``wait()`` between two
    tries of the work (it probes with PING, and logs now and then)."""

    def __init__(self, error: BaseException, what: str, ping: Callable[[], Any], stop: threading.Event,
                 log: Callable[[str, str], None]) -> None:
        self.what = f" {what}" if what else ""
        self.ping = ping
        self.stop = stop
        self.log = log
        self.delay = 0.05
        self.started = time.monotonic()
        self.logged = self.started
        log(f"Redis unavailable ({error}){self.what}: waiting for it", "warning")

    def wait(self, error: BaseException | None = None) -> bool:
        """Wait until Redis answers a PING (at least once a second), or ``stop`` is set (False).
        ``error``: the one the last try met, logged every 30 seconds."""
        while not self.stop.wait(self.delay):
            self.delay = min(self.delay * 2, PROBE_INTERVAL)
            now = time.monotonic()
            if error is not None and now - self.logged >= LOG_INTERVAL:
                self.logged = now
                self.log(f"Redis still unavailable after {now - self.started:.0f}s ({error}){self.what}",
                         "warning")
            try:
                self.ping()
                return True
            except RedisError as exc:
                if not is_outage(exc):
                    raise
                error = exc
        return False


def log_to(logger: logging.Logger) -> Callable[[str, str], None]:
    """A ``log(message, level)`` callable writing to ``logger``."""
    return lambda message, level: logger.log(logging.getLevelName(level.upper()), message)


def retrying(call: Callable[[], T], what: str, give_up: threading.Event, log: Callable[[str, str], None],
             ping: Callable[[], Any]) -> T:
    """``call()``, tried again after each outage (waiting for Redis to answer) until it succeeds,
    or until ``give_up`` is set: the outage error is then raised."""
    outage: Outage | None = None
    while True:
        try:
            return call()
        except RedisError as exc:
            if not is_outage(exc) or give_up.is_set():
                raise
            outage = outage or Outage(exc, what, ping, give_up, log)
            if not outage.wait(exc):
                raise


def every(interval: float, step: Callable[[], bool], stop: threading.Event, ping: Callable[[], Any],
          log: Callable[[str, str], None], what: str) -> None:
    """Run ``step`` every ``interval`` seconds until it returns True or ``stop`` is set, riding
    out Redis outages: after one, the step runs again as soon as Redis answers."""
    outage: Outage | None = None
    while True:
        try:
            if step():
                return
            outage = None
        except RedisError as exc:
            if not is_outage(exc):
                raise
            outage = outage or Outage(exc, what, ping, stop, log)
            if not outage.wait(exc):
                return
            continue
        if stop.wait(interval):
            return
