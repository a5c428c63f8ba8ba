"""Where the models connect: REDIS_URL, use_database, and errors naming the address."""

from __future__ import annotations

import pytest
import redis
from limpyd.contrib.database import PipelineDatabase
from sample_jobs import ResizeJob

from limpyd_jobs import ConfigurationException, Job, Queue
from limpyd_jobs.connection import default_settings, settings_from_string, settings_from_url
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.testing.server import free_port


@pytest.mark.parametrize(
    "url, expected",
    [
        ("redis://localhost:6380/2", {"host": "localhost", "port": 6380, "db": 2}),
        ("redis://:secret@example.org", {"host": "example.org", "port": 6379, "db": 0, "password": "secret"}),
        ("redis://user:p%40ss@h:1/3",
         {"host": "h", "port": 1, "db": 3, "username": "user", "password": "p@ss"}),
        ("rediss://h:6390/1", {"host": "h", "port": 6390, "db": 1, "ssl": True}),
        ("unix:///tmp/redis.sock?db=4", {"unix_socket_path": "/tmp/redis.sock", "db": 4}),
    ],
)
def test_settings_from_url(url, expected):
    assert settings_from_url(url) == expected


@pytest.mark.parametrize("url", ["http://h:1/0", "redis://h:1/x", "unix://", "redis://h:99999999/0"])
def test_bad_urls_say_what_is_wrong(url):
    with pytest.raises(ConfigurationException, match="redis|unix|port|integer|path"):
        settings_from_url(url)


def test_host_port_db_strings():
    assert settings_from_string("h:1234:5") == {"host": "h", "port": 1234, "db": 5}
    assert settings_from_string("h") == {"host": "h", "port": 6379, "db": 0}
    assert settings_from_string("redis://h:1/2")["db"] == 2
    with pytest.raises(ConfigurationException, match="host:port:db"):
        settings_from_string("h:port:db")


def test_default_settings_read_redis_url(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://somewhere:7000/3")
    assert default_settings() == {"host": "somewhere", "port": 7000, "db": 3}
    monkeypatch.delenv("REDIS_URL")
    assert default_settings() == {"host": "localhost", "port": 6379, "db": 0}


def test_use_database_moves_every_model(redis_server, database):
    other = PipelineDatabase(host="127.0.0.1", port=redis_server.port, db=1)
    other.connection.flushdb()
    BaseJobsModel.use_database(other)
    try:
        assert Job.database is other and Queue.database is other and ResizeJob.database is other
        job = Job.add_job(identifier="job:1", queue_name="q")
        assert Queue.get_queue("q").waiting.lmembers() == [job.ident]
        assert other.connection.dbsize() > 0
        assert database.connection.dbsize() == 0
    finally:
        BaseJobsModel.use_database(database)
        other.connection.flushdb()
    assert Job.database is database


@pytest.mark.slow
def test_a_failed_connection_names_the_address(database):
    port = free_port()
    database.reset(host="127.0.0.1", port=port, db=0)
    with pytest.raises(redis.ConnectionError, match=f"127.0.0.1:{port}"):
        Job.add_job(identifier="job:1", queue_name="q")
