"""Delayed jobs and retries start on time: a worker's wait ends when the first delayed job of its
queues is due, which it learns from its takes (and from a wake-up when a job is delayed to a time
before all others)."""

from __future__ import annotations

from datetime import timedelta

from sample_jobs import noop

from limpyd_jobs import STATUSES, Job, Queue
from limpyd_jobs.utils import str_to_datetime

# long periodic tasks: only the due times of delayed jobs end a wait in these tests
QUIET = dict(timeout=3600, fetch_priorities_delay=3600, fetch_delayed_delay=3600, recovery_delay=3600,
             purge_delay=0)


def started_at(job: Job):
    return str_to_datetime(job.start.hget())


def test_an_idle_worker_waits_exactly_until_the_first_delayed_job_is_due(make_clocked_worker, clock):
    added = clock.now()
    late = Job.add_job(identifier="late", queue_name="q", delayed_for=40)
    soon = Job.add_job(identifier="soon", queue_name="q", delayed_for=7.5)
    worker = make_clocked_worker(callback=noop, max_loops=2, **QUIET)
    worker.run()
    assert started_at(soon) == added + timedelta(seconds=7.5)
    assert started_at(late) == added + timedelta(seconds=40)
    assert worker.waiter.waits == [7.5, 32.5]


def test_fetch_delayed_delay_still_bounds_the_wait_when_it_is_shorter(make_clocked_worker, clock):
    added = clock.now()
    job = Job.add_job(identifier="job", queue_name="q", delayed_for=40)
    worker = make_clocked_worker(callback=noop, max_loops=1, **{**QUIET, "fetch_delayed_delay": 25})
    worker.run()
    assert worker.waiter.waits == [25, 15]
    assert started_at(job) == added + timedelta(seconds=40)


def test_a_busy_worker_moves_a_delayed_job_as_soon_as_it_is_due(make_clocked_worker, clock):
    delayed = Job.add_job(identifier="delayed", queue_name="q", delayed_for=3.5)
    for number in range(6):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    seen, D = [], STATUSES.DELAYED

    def one_second_each(job, queue):
        seen.append((job.identifier.hget(), delayed.status.hget()))
        clock.advance(1)

    make_clocked_worker(callback=one_second_each, max_loops=7, **QUIET).run()
    # due at 3.5s: moved to the end of the waiting list at the first take after that (at 4s)
    assert seen[:5] == [("job:0", D), ("job:1", D), ("job:2", D), ("job:3", D), ("job:4", STATUSES.WAITING)]
    assert seen[-1] == ("delayed", STATUSES.RUNNING)


def test_a_job_delayed_while_the_worker_is_idle_wakes_it_to_learn_when(make_clocked_worker, clock):
    Queue.get_queue("q")
    worker = make_clocked_worker(callback=noop, max_loops=1, **QUIET)
    added = []

    def delay_a_job_on_the_first_wait():
        if not added:  # the worker is idle: a job is delayed now, by 12 seconds
            added.extend([Job.add_job(identifier="job", queue_name="q", delayed_for=12), clock.now()])

    worker.before_wait = delay_a_job_on_the_first_wait
    worker.run()
    job, when = added
    assert started_at(job) == when + timedelta(seconds=12)
    assert worker.waiter.waits == [12]  # woken at once by the delay (no wait of an hour), then until due


def test_a_retry_starts_when_its_delay_is_over(make_clocked_worker, clock):
    job = Job.add_job(identifier="job", queue_name="q")
    failures = []

    def fail_once(job, queue):
        if not failures:
            failures.append(clock.now())
            raise ValueError("first try fails")

    worker = make_clocked_worker(callback=fail_once, max_loops=2, requeue_times=1, requeue_delay_delta=5,
                                 **QUIET)
    worker.run()
    assert job.status.hget() == STATUSES.SUCCESS
    assert started_at(job) == failures[0] + timedelta(seconds=5)


def test_a_delayed_job_runs_on_time_in_real_time(make_worker, threads):
    """Real time, real BLPOP: a job delayed while the worker waits (for an hour, if nothing ended
    its wait) runs once due; awaited by the worker's own end, no sleep."""
    Queue.get_queue("q")
    worker = make_worker(callback=noop, max_loops=1, waiting=True, **QUIET)
    added = []

    def delay_a_job_once_the_worker_waits():
        assert worker.waiting.wait(20)
        added.append(Job.add_job(identifier="job", queue_name="q", delayed_for=0.2))

    threads.start(delay_a_job_once_the_worker_waits)
    worker.run()
    threads.join()
    job = added[0]
    assert job.status.hget() == STATUSES.SUCCESS
    assert started_at(job) >= str_to_datetime(job.delayed_until.hget())
