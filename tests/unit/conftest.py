"""Unit tests use no Redis: the models point at a socket nobody listens on and the private server is
refused, so that a test reaching Redis fails here instead of passing by chance."""

from __future__ import annotations

import pytest
from redis.backoff import NoBackoff
from redis.retry import Retry

from limpyd_jobs.models import BaseJobsModel


@pytest.fixture
def redis_server():
    pytest.fail("a unit test uses no Redis: this one belongs in tests/redis")


@pytest.fixture(autouse=True)
def no_redis(tmp_path):
    # no retries: a command that reaches for Redis fails at once (redis-py's default retries for seconds)
    BaseJobsModel.database.reset(unix_socket_path=str(tmp_path / "no-redis.sock"),
                                 retry=Retry(NoBackoff(), 0))
