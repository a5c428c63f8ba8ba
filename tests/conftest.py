"""The fixtures: one private redis-server for the session and a database flushed for each test that
asks for it (autouse in redis/ and system/, never in unit/); a clock tests move by hand; worker
factories; threads whose failures reach pytest; round-trip counting. Helpers are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from helpers import ClockedWorker, RoundTrips, Threads, WaitingWorker, WorkerThreads

from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.testing.clock import ManualClock
from limpyd_jobs.testing.proxy import FaultyProxy
from limpyd_jobs.testing.server import RedisServer
from limpyd_jobs.workers import Worker

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    """A test module directly in tests/ would get no database: say where it belongs."""
    misplaced = sorted({item.path.name for item in items if item.path.parent == HERE})
    if misplaced:
        raise pytest.UsageError(f"{', '.join(misplaced)}: move to tests/unit (no Redis), tests/redis "
                                "or tests/system (processes, slow)")


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


@pytest.fixture
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


@pytest.fixture
def make_worker():
    """``make_worker(queues="q", **options)``: a worker that waits 50 ms at most for a job and
    leaves signals alone (``waiting=True``: a WaitingWorker)."""
    def make(queues: Any = "q", waiting: bool = False, **kwargs: Any) -> Worker:
        kwargs.setdefault("timeout", 0.05)
        kwargs.setdefault("terminate_gracefuly", False)
        return (WaitingWorker if waiting else Worker)(queues, **kwargs)

    return make


@pytest.fixture
def make_clocked_worker(clock):
    """``make_clocked_worker(queues="q", **options)``: a worker on the test's manual clock whose
    idle waits move that clock (``worker.waiter.waits`` lists them), leaving signals alone."""
    def make(queues: Any = "q", **kwargs: Any) -> Worker:
        kwargs.setdefault("terminate_gracefuly", False)
        return ClockedWorker(queues, **kwargs)

    return make


@pytest.fixture
def threads():
    """Start helper threads with ``threads.start(fn)``; their failures are raised at
    ``threads.join()`` (called for you at the end of the test)."""
    runner = Threads()
    yield runner
    runner.join()


@pytest.fixture
def round_trips(redis_server, database):
    """``with round_trips() as trips: ...``; ``trips.count`` is how many commands were sent."""
    return lambda: RoundTrips(redis_server)


@pytest.fixture
def running():
    """Workers in threads (``running.start(worker)``), stopped at the end of the test whatever happened."""
    workers = WorkerThreads()
    yield workers
    workers.stop()


@pytest.fixture
def proxy(redis_server, database):
    """A fault-injecting proxy between the models (and workers made afterwards) and Redis."""
    with FaultyProxy(redis_server.port) as faulty:
        database.reset(host="127.0.0.1", port=faulty.port, db=0)
        yield faulty
        faulty.calm()
    database.reset(host="127.0.0.1", port=redis_server.port, db=0)
