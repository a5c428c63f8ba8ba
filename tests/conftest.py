"""Shared fixtures: one private redis-server for the session, flushed before each test."""

from __future__ import annotations

import os

import pytest

from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.testing.server import RedisServer


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
