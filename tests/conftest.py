"""Shared fixtures: one private redis-server for the session, flushed before each test; a clock
tests move by hand; a worker factory; threads whose failures reach pytest; round-trip counting."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.testing.clock import ManualClock
from limpyd_jobs.testing.server import RedisServer
from limpyd_jobs.workers import Worker


@pytest.fixture(scope="session")
def redis_server():
    """A redis-server of our own, on a free port in a temp dir; never a user's server."""
    with RedisServer() as server:
        previous = os.environ.get("REDIS_URL")
        os.environ["REDIS_URL"] = server.url  # for subprocesses: CLI runs, multi-process tests
        yield server
        if previous is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = previous


@pytest.fixture(autouse=True)
def database(redis_server):
    """Point every limpyd-jobs model at the private server and start from an empty database."""
    assert redis_server.port != 6379, "tests must never run on the default Redis port"
    database = BaseJobsModel.database
    database.reset(host="127.0.0.1", port=redis_server.port, db=0)
    database.connection.flushdb()
    yield database


@pytest.fixture
def connection(database):
    return database.connection


@pytest.fixture
def clock():
    """A clock that stands still until ``clock.advance(seconds)``, used by every model (and the
    workers made afterwards) during the test."""
    manual, previous = ManualClock(), BaseJobsModel.clock
    BaseJobsModel.clock = manual
    yield manual
    BaseJobsModel.clock = previous


class WaitingWorker(Worker):
    """A worker whose ``waiting`` event is set when it starts waiting for a job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.waiting = threading.Event()
        super().__init__(*args, **kwargs)

    def set_status(self, status: str) -> None:
        super().set_status(status)
        if status == "waiting":
            self.waiting.set()


@pytest.fixture
def make_worker():
    """``make_worker(queues="q", **options)``: a worker that waits 50 ms at most for a job and
    leaves signals alone (``waiting=True``: a WaitingWorker)."""
    def make(queues: Any = "q", waiting: bool = False, **kwargs: Any) -> Worker:
        kwargs.setdefault("timeout", 0.05)
        kwargs.setdefault("terminate_gracefuly", False)
        return (WaitingWorker if waiting else Worker)(queues, **kwargs)

    return make


class ClockedWait:
    """Stands in for a worker's ``WakeUpWait`` on a manual clock: a token already in a wake-up list
    ends the wait at once (as BLPOP would), else the clock moves forward by the wait's length."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.waits: list[float] = []
        self.woken_by: str | None = None

    def wait(self, seconds: float, must_stop: Callable[[], bool]) -> bool:
        if must_stop():
            return False
        if self.worker.before_wait is not None:
            self.worker.before_wait()
        connection = self.worker.connection
        self.woken_by = next((key for key in [*self.worker.fetcher.wakeup_keys(), self.worker.wakeup_key]
                              if connection.lpop(key)), None)
        if self.woken_by:
            return True
        self.waits.append(seconds)
        self.worker.clock.advance(seconds)
        return False

    def cut(self) -> None:
        pass


class ClockedWorker(Worker):
    """A worker whose waits move the manual clock instead of blocking (see ClockedWait);
    ``before_wait``, if set, is called as each wait starts."""

    before_wait: Callable[[], None] | None = None
    waiter_factory = staticmethod(ClockedWait)


@pytest.fixture
def make_clocked_worker(clock):
    """``make_clocked_worker(queues="q", **options)``: a worker on the test's manual clock whose
    idle waits move that clock (``worker.waiter.waits`` lists them), leaving signals alone."""
    def make(queues: Any = "q", **kwargs: Any) -> Worker:
        kwargs.setdefault("terminate_gracefuly", False)
        return ClockedWorker(queues, **kwargs)

    return make


class Threads:
    """Threads started by a test; ``join()`` waits for them and raises what any of them raised."""

    def __init__(self) -> None:
        self.started: list[tuple[threading.Thread, list[BaseException]]] = []

    def start(self, target: Callable[..., Any], *args: Any) -> threading.Thread:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # handed to the test at join()
                errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.started.append((thread, errors))
        return thread

    def join(self, timeout: float = 30) -> None:
        for thread, errors in self.started:
            thread.join(timeout)
            assert not thread.is_alive(), f"thread {thread.name} still runs after {timeout}s"
            if errors:
                raise errors[0]
        self.started = []


@pytest.fixture
def threads():
    """Start helper threads with ``threads.start(fn)``; their failures are raised at
    ``threads.join()`` (called for you at the end of the test)."""
    runner = Threads()
    yield runner
    runner.join()


class RoundTrips:
    """Records, through MONITOR, the commands clients send (not those run inside scripts).

    ``with RoundTrips(server) as trips: ...`` then ``trips.commands`` lists them by name.
    """

    SENTINEL = "limpyd-jobs-round-trips-end"
    HANDSHAKE = ("HELLO", "CLIENT SETINFO", "CLIENT SETNAME", "SELECT")  # new connections only

    def __init__(self, server):
        self.server = server
        self.commands: list[str] = []

    @property
    def count(self) -> int:
        return len(self.commands)

    def __enter__(self):
        # a client of its own, so the monitored code keeps its pooled connections
        self._client = self.server.client()
        self._monitor = self._client.monitor()
        self._monitor.__enter__()
        return self

    def __exit__(self, *exc_info):
        self._client.echo(self.SENTINEL)
        for _ in range(100_000):
            command = self._monitor.next_command()
            if command["command"] == f"ECHO {self.SENTINEL}":
                break
            if command["client_type"] != "lua" and not command["command"].startswith(self.HANDSHAKE):
                self.commands.append(command["command"].split(" ", 1)[0].upper())
        self._monitor.__exit__(*exc_info)
        self._client.close()


@pytest.fixture
def round_trips(redis_server, database):
    """``with round_trips() as trips: ...``; ``trips.count`` is how many commands were sent."""
    return lambda: RoundTrips(redis_server)
