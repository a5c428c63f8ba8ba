"""The pytest plugin of limpyd-jobs (loaded by pytest once limpyd-jobs is installed).

Fixtures: ``limpyd_jobs_redis``, a private redis-server for the test session;
``limpyd_jobs_database``, the models pointed at it and emptied for one test; ``limpyd_jobs_eager``,
tasks run when enqueued during one test. Nothing is started until a test asks for a fixture.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def limpyd_jobs_redis() -> Iterator[Any]:
    """A redis-server of the test session's own, on a free port, saving nothing (its ``url``;
    ``REDIS_URL`` points at it meanwhile, for the processes the tests start)."""
    from .server import RedisServer

    with RedisServer() as server:
        previous = os.environ.get("REDIS_URL")
        os.environ["REDIS_URL"] = server.url
        try:
            yield server
        finally:
            if previous is None:
                os.environ.pop("REDIS_URL", None)
            else:
                os.environ["REDIS_URL"] = previous


@pytest.fixture
def limpyd_jobs_database(limpyd_jobs_redis: Any) -> Iterator[Any]:
    """The limpyd-jobs models (and yours, unless they have a database of their own) pointed at the
    private server, emptied before the test; their previous settings are restored after it."""
    from ..models import BaseJobsModel

    database = BaseJobsModel.database
    previous = dict(database.connection_settings)
    database.reset(host="127.0.0.1", port=limpyd_jobs_redis.port, db=0)
    database.connection.flushdb()
    try:
        yield database
    finally:
        database.reset(**previous)


@pytest.fixture
def limpyd_jobs_eager() -> Iterator[None]:
    """Tasks enqueued during the test run at once, their exceptions raised to the caller."""
    from .eager_mode import eager

    with eager():
        yield
