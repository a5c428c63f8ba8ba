"""The pending-jobs scheduler (rache-style): schedule, take what is due, details, bridge."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

import pytest
import redis

from limpyd_jobs import STATUSES, Job, Queue
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.pending import (
    delete_job,
    enqueue_pending_jobs,
    job_details,
    pending_jobs,
    pending_models,
    schedule_job,
    scheduled_jobs,
)


def test_schedule_and_take_due_jobs_oldest_first():
    schedule_job("later", schedule_in=3600)
    schedule_job("due-2", schedule_in=-5)
    schedule_job("due-1", schedule_in=-10, timeout=10, name="feed")
    jobs = list(pending_jobs())
    assert jobs == [{"id": "due-1", "timeout": 10, "name": "feed"}, {"id": "due-2"}]  # ints, as rache
    assert list(pending_jobs()) == []  # taken: out of the schedule
    assert list(scheduled_jobs()) == ["later"]
    details = {"id": "due-1", "timeout": 10, "name": "feed", "schedule_at": None}
    assert job_details("due-1") == details
    assert job_details("due-1", convert=False)["timeout"] == "10"  # as stored, when asked


def test_scheduling_again_reschedules_and_data_persists():
    schedule_job("job", schedule_in=-1, timeout=10, retries=3)
    schedule_job("job", schedule_in=100, retries=None, extra="x")
    details = job_details("job")
    assert details["timeout"] == 10 and details["extra"] == "x" and "retries" not in details
    assert list(scheduled_jobs()) == ["job"]
    assert list(pending_jobs()) == []


def test_schedule_in_accepts_timedelta_and_is_mandatory():
    schedule_job("a", schedule_in=timedelta(seconds=-1))
    assert [job["id"] for job in pending_jobs()] == ["a"]
    with pytest.raises(TypeError):
        schedule_job("b", schedule_in=None)
    with pytest.raises(TypeError):
        schedule_job("b", schedule_in="soon")
    for endless in (float("inf"), float("nan"), 10**30):
        with pytest.raises(ValueError, match="finite"):
            schedule_job("b", schedule_in=endless)
    assert list(scheduled_jobs()) == []


def test_id_is_reserved():
    with pytest.raises(RuntimeError, match="reserved"):
        schedule_job("a", schedule_in=0, id="other")


def test_reschedule_in_and_limit():
    for number in range(3):
        schedule_job(f"job:{number}", schedule_in=-10 + number)
    taken = list(pending_jobs(reschedule_in=3600, limit=2))
    assert [job["id"] for job in taken] == ["job:0", "job:1"]
    times = dict(scheduled_jobs(with_times=True))
    assert set(times) == {"job:0", "job:1", "job:2"}
    assert times["job:0"] > times["job:2"] + 3000  # rescheduled an hour ahead
    assert [job["id"] for job in pending_jobs()] == ["job:2"]


def test_unicode_ids_and_bytes_data():
    schedule_job("héhé ☃", schedule_in=-1, payload=b"\xff\xfe", text="ça", number="42")
    [job] = pending_jobs()
    assert job == {"id": "héhé ☃", "payload": b"\xff\xfe", "text": "ça", "number": 42}


def test_converted_values_are_canonical_integers_only_and_an_odd_one_loses_nothing():
    schedule_job("a", schedule_in=-2, count="42", padded="007", superscript="²", text="x1")
    schedule_job("b", schedule_in=-1, count=3)
    jobs = list(pending_jobs())  # converted by default, as rache
    assert jobs == [{"id": "a", "count": 42, "padded": "007", "superscript": "²", "text": "x1"},
                    {"id": "b", "count": 3}]


def test_delete_job_and_details_of_unknown_job():
    schedule_job("a", schedule_in=10, key="value")
    delete_job("a")
    assert list(scheduled_jobs()) == []
    assert job_details("a") == {"id": "a", "schedule_at": None}


def test_custom_connection_and_prefix(redis_server):
    for client in (redis_server.client(db=4), redis.StrictRedis(port=redis_server.port, db=4,
                                                                 decode_responses=True)):
        client.flushdb()
        schedule_job("a", schedule_in=-1, connection=client, prefix="app1", size=3)
        schedule_job("a", schedule_in=-1, connection=client, prefix="app2", size=4)
        assert list(pending_jobs(connection=client, prefix="app1", convert=True)) == [{"id": "a", "size": 3}]
        assert list(pending_jobs(connection=client, prefix="app2", convert=True)) == [{"id": "a", "size": 4}]
        assert list(scheduled_jobs(connection=client, prefix="app1")) == []
    assert BaseJobsModel.database.connection.dbsize() == 0  # nothing went to the default database
    redis_server.client(db=4).flushdb()


def test_prefix_from_the_environment(monkeypatch, connection):
    monkeypatch.setenv("LIMPYD_JOBS_PENDING_PREFIX", "myapp")
    schedule_job("a", schedule_in=10)
    assert connection.zrange("myapp:schedule:all:jobs", 0, -1) == ["a"]


def test_stored_as_limpyd_models():
    schedule_job("feed:1", schedule_in=60, timeout=5)
    scheduled_job, schedule = pending_models()
    job = scheduled_job("feed:1")
    assert job.data.hgetall() == {"timeout": "5"}
    assert float(job.schedule_at.hget()) > 0
    assert schedule("all").jobs.zrange(0, -1) == ["feed:1"]
    assert list(scheduled_job.collection()) == ["feed:1"]


def test_enqueue_pending_jobs_bridge():
    schedule_job("feed:1", schedule_in=-1)
    schedule_job("feed:2", schedule_in=-1)
    schedule_job("feed:3", schedule_in=100)
    jobs = enqueue_pending_jobs("fetch", reschedule_in=3600)
    assert [job.identifier.hget() for job in jobs] == ["feed:1", "feed:2"]
    assert all(job.status.hget() == STATUSES.WAITING for job in jobs)
    assert Queue.count_waiting_jobs("fetch") == 2
    assert enqueue_pending_jobs("fetch") == []
    assert Job.add_job(identifier="feed:1", queue_name="fetch") == jobs[0]  # still queued


def _poll(port, barrier, results):
    BaseJobsModel.database.reset(host="127.0.0.1", port=port, db=0)
    barrier.wait(timeout=20)
    got = []
    for _ in range(50):
        got += [job["id"] for job in pending_jobs(limit=7)]
    results.put(got)


def test_concurrent_pollers_never_get_the_same_job(redis_server):
    for number in range(300):
        schedule_job(f"job:{number}", schedule_in=-1)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_poll, args=(redis_server.port, barrier, results)) for _ in range(4)]
    for process in processes:
        process.start()
    taken = [job_id for _ in processes for job_id in results.get(timeout=60)]
    for process in processes:
        process.join(30)
    assert sorted(taken) == sorted(f"job:{number}" for number in range(300))


def test_the_readme_loop_runs_for_a_job_scheduled_without_a_timeout():
    schedule_job("https://example.com/feed", schedule_in=-1)
    schedule_job("https://example.com/other", schedule_in=-1, timeout=10)
    fetched = [(job["id"], job.get("timeout")) for job in pending_jobs(reschedule_in=3600)]
    assert fetched == [("https://example.com/feed", None), ("https://example.com/other", 10)]
    assert job_details("https://example.com/other")["timeout"] == 10
