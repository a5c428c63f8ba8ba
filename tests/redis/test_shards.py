"""Shards on one standalone Redis: S job databases under their own hash-tag prefixes, a queue name
in one of them, producers routed by queue name, a worker serving the shard of its queues."""

from __future__ import annotations

import zlib

import pytest
from redis.crc import key_slot

from limpyd_jobs import shards
from limpyd_jobs.connection import settings_from_url
from limpyd_jobs.exceptions import ConfigurationException
from limpyd_jobs.models import Job, Queue
from limpyd_jobs.protocol import KEYS

S = 3


def names_in_shards(count: int = S) -> list[str]:
    """One queue name per shard, in shard order."""
    found: dict[int, str] = {}
    number = 0
    while len(found) < count:
        found.setdefault(zlib.crc32(f"queue-{number}".encode()) % count, f"queue-{number}")
        number += 1
    return [found[index] for index in range(count)]


@pytest.fixture
def sharded():
    """Three shards for the test (a table row: ``pinned`` in shard 2), one afterwards."""
    shards.configure(S, {"pinned": 2})
    yield names_in_shards()
    shards.configure(1, {})


def shard_tag(key: str) -> str:
    return key[key.index("{"):key.index("}") + 1]


def test_one_shard_is_todays_layout(database):
    assert not shards.sharded()
    assert KEYS.prefix == "limpyd-jobs" and Job._name == "jobs:job" and Queue._name == "jobs:queue"
    job = Job.add_job(identifier="one", queue_name="q")
    assert job.shard == 0 and all("{" not in key for key in database.connection.keys("*"))


def test_a_queue_name_is_in_the_shard_of_its_crc32_or_its_table_row(sharded):
    for name in ("emails", "reports", "queue-7", "ünïcode"):
        assert shards.shard_of(name) == zlib.crc32(name.encode()) % S
    assert shards.shard_of("pinned") == 2
    assert [shards.shard_of(name) for name in sharded] == [0, 1, 2]


def test_prefixes_number_the_hash_tag():
    assert shards.Layout(3).prefix(1) == "{jobs-1}"
    assert shards.Layout(3, base="{app}").prefix(2) == "{app-2}"
    assert shards.Layout(3, base="acl:{app}:x").prefix(0) == "acl:{app-0}:x"
    assert shards.Layout(3, base="myapp").prefix(0) == "myapp:{jobs-0}"


def test_add_job_writes_every_key_in_the_one_slot_of_its_queues_shard(sharded, database):
    for index, name in enumerate(sharded):
        job = Job.add_job(identifier="same", queue_name=name)
        assert job.shard == index and job.status.hget() == "w"
    keys = database.connection.keys("*")
    assert {shard_tag(key) for key in keys} == {"{jobs-0}", "{jobs-1}", "{jobs-2}"}
    for key in keys:
        assert key_slot(key.encode()) == key_slot(shard_tag(key).encode())
    for index, name in enumerate(sharded):  # one job per shard: the same identifier is not shared
        with shards.using(index):
            assert len(Job.collection()) == 1
            assert Queue.count_waiting_jobs(name) == 1


def test_add_jobs_adds_each_item_in_the_shard_of_its_queue_in_order(sharded, database):
    zero, one, two = sharded
    items = ["a", {"identifier": "b", "queue_name": two}, "c", {"identifier": "d", "queue_name": one}]
    added = Job.add_jobs(items, queue_name=zero)
    assert [(job.shard, job.identifier.hget()) for job in added] == [(0, "a"), (2, "b"), (0, "c"), (1, "d")]
    assert Queue.count_waiting_jobs(sharded) == 4
    assert [queue.shard for queue in Queue.get_all(sharded)] == [0, 1, 2]


def test_a_worker_serves_the_shard_of_its_queues(sharded, database, make_worker):
    zero, _, two = sharded
    Job.add_job(identifier="first", queue_name=two)
    Job.add_job(identifier="second", queue_name=two)
    Job.add_job(identifier="elsewhere", queue_name=zero)
    seen = []
    worker = make_worker(two, max_loops=2, callback=lambda job, queue: seen.append((job.shard, queue.shard)))
    worker.run()
    assert seen == [(2, 2), (2, 2)] and shards.current() == 0
    with shards.using(2):
        assert {job.status.hget() for job in Job.collection().instances()} == {"s"}
    with shards.using(0):
        assert [job.status.hget() for job in Job.collection().instances()] == ["w"]


def test_a_worker_whose_queues_span_shards_refuses_to_run(sharded, make_worker):
    with pytest.raises(ConfigurationException, match="a worker serves one shard"):
        make_worker([sharded[0], sharded[1]]).run()


def test_a_job_made_in_a_shard_reads_and_requeues_there_from_anywhere(sharded, database):
    job = Job.add_job(identifier="mine", queue_name=sharded[1])
    job.status.hset("e")
    assert job.requeue(sharded[1])
    with shards.using(0):
        assert job.status.hget() == "w"
        assert Queue.count_waiting_jobs(sharded[1]) == 2  # the add's, then the requeue's
        assert not Job.collection()


def test_the_url_says_the_shards_and_the_table(database):
    settings = settings_from_url("redis://127.0.0.1:6400/0?shards=3&shard_table=emails%3D2,reports%3D0")
    assert settings["shards"] == 3 and settings["shard_table"] == {"emails": 2, "reports": 0}
    assert "shards" not in str(settings.get("path", ""))
    try:
        database.reset(**{**database.connection_settings, "shards": 3, "shard_table": {"emails": 2}})
        assert shards.count() == 3 and shards.shard_of("emails") == 2
    finally:
        shards.configure(1, {})


@pytest.mark.parametrize("query", ["shards=0", "shards=two", "shards=2&shard_table=emails%3D2",
                                   "shards=2&shard_table=emails"])
def test_bad_shard_options_are_refused_naming_the_url(query):
    with pytest.raises(ConfigurationException, match="shard"):
        settings_from_url(f"redis://127.0.0.1:6400/0?{query}")


def test_the_environment_says_the_shards(monkeypatch):
    monkeypatch.setenv(shards.SHARDS_VARIABLE, "4")
    monkeypatch.setenv(shards.TABLE_VARIABLE, "emails=3")
    try:
        layout = shards.configure()
        assert layout.count == 4 and layout.shard_of("emails") == 3
        monkeypatch.setenv(shards.SHARDS_VARIABLE, "-1")
        with pytest.raises(ConfigurationException, match=shards.SHARDS_VARIABLE):
            shards.configure()
    finally:
        monkeypatch.delenv(shards.SHARDS_VARIABLE)
        monkeypatch.delenv(shards.TABLE_VARIABLE)
        shards.configure(1, {})
