"""Retention of finished jobs under load: the lists stay within ``keep_finished`` (plus a slice)
whatever the rate, a purge catches up in slices, a lost reply of a purge deletes no queued job,
and a producer at 1,000 jobs/s leaves Redis near its level (slow)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from helpers import TESTS_DIR
from sample_jobs import noop

from limpyd_jobs import STATUSES, Error, Job, Queue, operations
from limpyd_jobs.protocol.loader import LuaScript
from limpyd_jobs.testing.proxy import script
from limpyd_jobs.workers import Worker, retention


def fail_first_attempt(job, queue):
    if job.identifier.hget().startswith("fails-once") and job.tries.hget() == "1":
        raise ValueError("first attempt fails")


@pytest.fixture
def small_slice(monkeypatch):
    """Purges of 10 entries per list (250 in production): a few dozen jobs show the bound."""
    monkeypatch.setattr(retention, "SLICE", 10)
    return 10


def finished(count: int, **options) -> list[Job]:
    """``count`` jobs run to SUCCESS by a worker that never purges."""
    jobs = [Job.add_job(identifier=f"old:{number}", queue_name="q") for number in range(count)]
    run(count, purge_delay=0, **options)
    return jobs


def run(loops: int, **options) -> None:
    options.setdefault("callback", noop)
    Worker("q", max_loops=loops, timeout=0.05, terminate_gracefuly=False, **options).run()


def test_the_lists_stay_within_keep_finished_and_a_slice_while_jobs_end_faster_than_the_purge_delay(
        make_clocked_worker, clock, small_slice):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(125)]
    worker = make_clocked_worker(callback=noop, keep_finished=5, max_loops=0)  # purge_delay: 60 s
    worker.update_keys()
    start = clock.time()
    queue = Queue.get_queue("q")
    lengths = []
    for _ in range(125):
        assert worker.run_one()
        lengths.append(queue.success.llen())
    assert clock.time() == start  # no purge was due by time: the ends brought them
    assert max(lengths) <= 5 + small_slice  # at most keep_finished and a slice's worth of ends
    assert lengths[-1] <= 5 + small_slice and len(Job.collection()) <= 5 + small_slice
    kept = queue.success.lmembers()
    assert kept == [job.ident for job in jobs[-len(kept):]]  # the latest ones
    deleted = jobs[0]
    assert not Job.exists(pk=deleted.pk.get())
    assert not deleted.get_connection().exists(deleted.history.key)  # with their history
    assert not worker.run_one()  # no job: it purges the ends it left before it waits
    assert queue.success.llen() == 5


def test_a_purge_that_removed_a_full_slice_runs_again_at_the_next_pass_until_caught_up(
        make_clocked_worker, clock, small_slice):
    old = finished(100)
    clock.advance(2 * 86400)
    new = [Job.add_job(identifier=f"new:{number}", queue_name="q") for number in range(12)]
    worker = make_clocked_worker(callback=noop, keep_finished=None, finished_ttl=86400, max_loops=12)
    worker.update_keys()
    queue = Queue.get_queue("q")
    lengths = []
    for _ in range(12):
        assert worker.run_one()
        lengths.append(queue.success.llen())
    # each pass removes a slice of the jobs ended two days ago (and adds the end of its job)
    assert lengths[:3] == [100 - 10 + 1, 100 - 20 + 2, 100 - 30 + 3]
    assert not any(Job.exists(pk=job.pk.get()) for job in old)
    assert queue.success.lmembers() == [job.ident for job in new]  # ended now: kept by the ttl


def test_a_purge_costs_one_round_trip_per_slice_of_jobs(make_worker, round_trips, small_slice):
    for number in range(22):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    worker = make_worker(callback=noop, keep_finished=5, max_loops=0)
    worker.update_keys()
    worker.run_one()  # the first pass also runs the periodic maintenance and a plain fetch
    with round_trips() as trips:
        for _ in range(20):
            assert worker.run_one()
    # a job: its end with the take of the next; a purge after every 10: one script for both lists
    assert trips.commands == ["EVALSHA"] * 22
    assert Queue.get_queue("q").success.llen() <= 5 + small_slice


def test_with_purge_delay_0_ends_bring_no_purge(make_clocked_worker, small_slice):
    for number in range(30):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    make_clocked_worker(callback=noop, keep_finished=5, purge_delay=0, max_loops=30).run()
    assert Queue.get_queue("q").success.llen() == 30


def test_errors_of_the_jobs_deleted_go_with_them_and_others_stay(small_slice):
    failing = [Job.add_job(identifier=f"fails:{number}", queue_name="q") for number in range(3)]
    run(3, purge_delay=0, callback=lambda job, queue: 1 / 0)
    assert len(Error.collection()) == 3
    queue = Queue.get_queue("q")
    assert queue.purge_finished_slice(keep=1, max_entries=10) == (2, False)
    assert [error.job_pk.hget() for error in Error.collection().instances()] == [failing[2].pk.get()]


def test_a_job_in_both_lists_is_deleted_once(small_slice):
    job = Job.add_job(identifier="fails-once:requeued", queue_name="q")
    run(1, purge_delay=0, callback=fail_first_attempt)  # ERROR, in the errors list
    assert operations.requeue_failed("q") == 1  # by an operator: it runs again, to SUCCESS
    run(1, purge_delay=0)
    queue = Queue.get_queue("q")
    assert queue.errors.lmembers() == queue.success.lmembers() == [job.ident]
    assert queue.purge_finished(keep=0) == 1  # counted once, its error with it
    assert not Job.exists(pk=job.pk.get()) and len(Error.collection()) == 0
    assert queue.errors.llen() == queue.success.llen() == 0


# --- a lost reply of a purge


@pytest.mark.parametrize("lost", [1, 2], ids=["sent-again", "raised-and-ridden-out"])
def test_a_lost_reply_of_a_purge_loses_no_job_and_deletes_no_queued_job(proxy, redis_server, lost):
    done = finished(20)
    retried = Job.add_job(identifier="fails-once:retried", queue_name="q")
    run(2, purge_delay=0, callback=fail_first_attempt, requeue_times=1, requeue_delay_delta=0)
    flaky = Job.add_job(identifier="fails-once:flaky", queue_name="q")
    run(1, purge_delay=0, callback=fail_first_attempt, requeue_times=1, requeue_delay_delta=0)
    waiting = [Job.add_job(identifier=f"waiting:{number}", queue_name="q") for number in range(3)]
    queue = Queue.get_queue("q")
    assert retried.status.hget() == STATUSES.SUCCESS and len(Error.collection_for_job(retried)) == 1
    assert queue.errors.lmembers() == [retried.ident, flaky.ident] and flaky.status.hget() == STATUSES.WAITING
    # the reply of the purge that deletes `retried` (from the errors list) never arrives; Redis runs it
    redis_server.client().script_load(LuaScript("purge_finished").source)
    purge = script("purge_finished")
    proxy.lose_reply(lambda request: purge(request) and queue.errors.key.encode() in request, times=lost)
    run(4, keep_finished=0, callback=fail_first_attempt)  # its first maintenance purges, then 4 jobs
    direct = redis_server.client(decode_responses=True)
    assert proxy.counts.lost == lost
    assert not any(direct.exists(job.key) for job in [*done, retried])  # finished: deleted
    remaining = [error.job_pk.hget() for error in Error.collection().instances()]
    assert remaining == [flaky.pk.get()]  # the error of `retried` went with it: the next reply told it
    assert direct.keys("limpyd-jobs:purged-errors:*") == []
    assert flaky.status.hget() == STATUSES.SUCCESS  # queued when purged: kept, and it ran
    assert [job.status.hget() for job in waiting] == [STATUSES.SUCCESS] * 3


# --- sustained load (slow)


@pytest.mark.slow
def test_a_producer_at_1000_jobs_a_second_leaves_keep_finished_and_memory_near_its_level(
        redis_server, connection):
    rate, seconds, keep = 1000, 20, 10_000
    queue = Queue.get_queue("q")
    Job.add_job(identifier="warm-up", queue_name="q")
    worker = subprocess.Popen(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", "--queues=q", "--callback=sample_jobs.noop",
         f"--pythonpath={TESTS_DIR}", f"--database=127.0.0.1:{redis_server.port}:0",
         "--logger-level=WARNING", "--max-loops=0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while queue.waiting.llen() or not queue.success.llen():
            time.sleep(0.05)
        baseline = connection.info("memory")["used_memory"]
        at_keep, added, longest, start = None, 0, 0, time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate)
            if due > added:
                Job.add_jobs([f"job:{number}" for number in range(added, due)], "q")
                added = due
            length = queue.success.llen()
            longest = max(longest, length)
            if at_keep is None and length >= keep:  # the level retention holds
                at_keep = connection.info("memory")["used_memory"]
            time.sleep(0.05)
        deadline = time.monotonic() + 60  # a minute after the producer stopped, at most
        while (queue.waiting.llen() or queue.success.llen() > keep) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert worker.poll() is None
        assert added >= 0.9 * rate * seconds and queue.waiting.llen() == 0
        assert longest <= keep + retention.SLICE  # all along: the worker purged as fast as jobs ended
        assert queue.success.llen() == keep and len(Job.collection()) == keep  # once idle: keep_finished
        after = connection.info("memory")["used_memory"]
        # twice the jobs ran that are kept: without retention, twice the growth
        assert after - baseline <= 1.25 * (at_keep - baseline)
    finally:
        worker.terminate()
        worker.wait(30)
