"""A worker with ``concurrency``: jobs in flight at once on an event loop or in threads, never more
taken than free slots, hooks in the worker's thread, timeouts per job, ends written together."""

from __future__ import annotations

import asyncio
import collections
import threading

import pytest
import task_samples as app
from helpers import Tracker, tracked_worker, wait_until

from limpyd_jobs import STATUSES, Error, Job, Queue
from limpyd_jobs.exceptions import ConfigurationException
from limpyd_jobs.tasks import TaskJob
from limpyd_jobs.testing.clock import ManualClock
from limpyd_jobs.testing.proxy import script
from limpyd_jobs.workers import Worker
from limpyd_jobs.workers.title import banner


class ThreadNotingWorker(Worker):
    """Notes the thread each hook runs in, and the jobs in flight when each job starts."""

    def __init__(self, *args, **kwargs):
        self.hook_threads: set[int] = set()
        super().__init__(*args, **kwargs)

    def job_started(self, job, queue):
        self.hook_threads.add(threading.get_ident())
        super().job_started(job, queue)

    def job_success(self, job, queue, job_result):
        self.hook_threads.add(threading.get_ident())
        super().job_success(job, queue, job_result)


def burst_worker(callback, concurrency, cls=Worker, **options):
    options.setdefault("max_loops", None)
    return cls("q", callback=callback, concurrency=concurrency, burst=True, terminate_gracefuly=False,
               timeout=0.05, **options)


def statuses(jobs):
    return [job.status.hget() for job in jobs]


def test_async_callbacks_are_in_flight_together_on_one_loop():
    jobs = Job.add_jobs([f"job:{number}" for number in range(10)], queue_name="q")
    seen = {"in_flight": 0, "threads": set()}
    all_in: dict[str, asyncio.Event] = {}

    async def callback(job, queue):
        event = all_in.setdefault("event", asyncio.Event())  # one loop: one event for all
        seen["threads"].add(threading.get_ident())
        seen["in_flight"] += 1
        if seen["in_flight"] == 10:
            event.set()
        await asyncio.wait_for(event.wait(), 20)  # ten at once, or a timeout fails the jobs
        return job.identifier.hget()

    worker = burst_worker(callback, 10, cls=ThreadNotingWorker)
    worker.run()
    assert statuses(jobs) == [STATUSES.SUCCESS] * 10
    assert len(seen["threads"]) == 1 and threading.get_ident() not in seen["threads"]
    assert worker.hook_threads == {threading.get_ident()}  # hooks run in the worker's thread
    assert "concurrency=10 (asyncio for async def jobs, threads for the others)" in banner(worker)


def test_plain_callbacks_run_in_a_pool_of_threads_at_once():
    jobs = Job.add_jobs([f"job:{number}" for number in range(5)], queue_name="q")
    barrier = threading.Barrier(5, timeout=20)  # broken (the jobs fail) unless five run at once
    threads = set()

    def callback(job, queue):
        threads.add(threading.get_ident())
        barrier.wait()

    worker = burst_worker(callback, 5, execution_mode="threads")
    worker.run()
    assert statuses(jobs) == [STATUSES.SUCCESS] * 5
    assert len(threads) == 5 and threading.get_ident() not in threads
    assert "concurrency=5 (threads)" in banner(worker)


def test_no_more_jobs_taken_than_free_slots_so_priorities_hold(connection, running):
    Job.add_jobs([f"low:{number}" for number in range(6)], queue_name="q", priority=0)
    Queue.get_queue("q", priority=9)  # known to the worker from the start
    tracker, gates, started = Tracker(), {}, []

    everyone = threading.Event()

    def callback(job, queue):
        identifier = job.identifier.hget()
        started.append(identifier)
        if not everyone.is_set():
            tracker.gate(gates.setdefault(identifier, threading.Event()))

    worker = tracked_worker(tracker, callback, concurrency=3, max_loops=None)
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 3)
    assert connection.zcard(worker.running_key) == 3  # three slots: three taken, no more
    assert sorted(started) == ["low:0", "low:1", "low:2"]
    Job.add_job("high", queue_name="q", priority=9)
    for identifier in list(gates):  # registered by their callbacks, while the dict is set there
        gates[identifier].set()
    tracker.wait_for(lambda: tracker.blocked == 6)
    # taken before the lower ones once slots were free (the threads may start them in any order)
    assert set(started) == {"low:0", "low:1", "low:2", "low:3", "low:4", "high"}
    everyone.set()
    for identifier in started[3:]:
        gates[identifier].set()
    tracker.wait_for(lambda: tracker.ends["success"] == 7)


def test_a_reserve_of_a_quarter_of_the_slots_never_more_taken(connection, running):
    assert [Worker("q", concurrency=size).flights.reserve for size in (2, 4, 100, 1000)] == [0, 1, 25, 128]
    Job.add_jobs([f"job:{number}" for number in range(20)], queue_name="q")
    tracker, go = Tracker(), threading.Event()
    worker = tracked_worker(tracker, lambda job, queue: tracker.gate(go), concurrency=8, max_loops=None)
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 8)
    wait_until(lambda: connection.zcard(worker.running_key) == 10)  # eight slots, a reserve of two
    assert connection.llen(Queue.get_queue("q").waiting.key) == 10
    assert (worker.flights.in_flight, len(worker.flights.reserved)) == (8, 2)
    go.set()
    tracker.wait_for(lambda: tracker.ends["success"] == 20)
    assert connection.zcard(worker.running_key) == 0


def test_a_stop_signal_while_a_burst_drains_gives_the_reserve_back(connection, running):
    Job.add_jobs([f"job:{number}" for number in range(9)], queue_name="q")
    tracker, gates, started = Tracker(), {}, []

    def callback(job, queue):
        started.append(job.identifier.hget())
        tracker.gate(gates.setdefault(job.identifier.hget(), threading.Event()))

    worker = tracked_worker(tracker, callback, concurrency=8, max_loops=None, burst=True)  # a reserve of 2
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 8)
    wait_until(lambda: worker.end_forced)  # queues empty, job:8 reserved: the burst's end would run it
    assert [flight.job.identifier.hget() for flight in worker.flights.reserved] == ["job:8"]
    worker.signals.end(15)  # SIGTERM while draining: the reserve goes back, the worker ends
    for number in range(8):
        gates.setdefault(f"job:{number}", threading.Event()).set()
    running.threads.join()
    assert "job:8" not in started
    assert connection.zcard(worker.running_key) == 0
    [reserved] = Job.collection(identifier="job:8").instances()
    assert connection.lrange(Queue.get_queue("q").waiting.key, 0, -1) == [reserved.ident]
    assert reserved.status.hget() == STATUSES.WAITING


def test_a_higher_priority_job_comes_once_the_reserve_is_used(connection, running):
    Job.add_jobs([f"low:{number}" for number in range(6)], queue_name="q", priority=0)
    Queue.get_queue("q", priority=9)  # known to the worker from the start
    tracker, gates, started = Tracker(), {}, []

    def callback(job, queue):
        identifier = job.identifier.hget()
        started.append(identifier)
        tracker.gate(gates.setdefault(identifier, threading.Event()))

    worker = tracked_worker(tracker, callback, concurrency=4, max_loops=None)  # a reserve of one
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 4)
    wait_until(lambda: connection.zcard(worker.running_key) == 5)  # low:4 reserved, low:5 waits
    Job.add_job("high", queue_name="q", priority=9)
    gates["low:0"].set()
    tracker.wait_for(lambda: tracker.blocked == 5 and tracker.ends["success"] == 1)
    assert started[4] == "low:4"  # the reserved one started in the freed slot
    wait_until(lambda: connection.zcard(worker.running_key) == 5)  # the reserve taken again: high
    gates["low:1"].set()
    tracker.wait_for(lambda: tracker.blocked == 6)
    assert started[5] == "high"  # before low:5, taken earlier than it was added
    for identifier in ["low:2", "low:3", "low:4", "high"]:
        gates[identifier].set()
    tracker.wait_for(lambda: tracker.blocked == 7)
    gates["low:5"].set()
    tracker.wait_for(lambda: tracker.ends["success"] == 7)
    assert started[6] == "low:5"


def test_a_reserved_job_has_its_timeout_from_its_own_start_its_hooks_in_the_worker(running):
    Job.add_jobs([f"job:{number}" for number in range(5)], queue_name="q")
    clock, tracker, gates, hooked = ManualClock(), Tracker(), {}, []

    def callback(job, queue):
        tracker.gate(gates.setdefault(job.identifier.hget(), threading.Event()))

    worker = tracked_worker(tracker, callback, concurrency=4, max_loops=None, job_timeout=10, clock=clock)
    worker.job_started = lambda job, queue: hooked.append((job.identifier.hget(), threading.get_ident()))
    running.start(worker)
    tracker.wait_for(lambda: tracker.blocked == 4)
    wait_until(lambda: len(worker.flights.reserved) == 1)  # job:4, taken now
    taken_at = clock.time()
    clock.advance(8)
    gates["job:0"].set()
    tracker.wait_for(lambda: tracker.blocked == 5)
    flights = list(worker.flights.flying.values())
    flight = next(flight for flight in flights if flight.job.identifier.hget() == "job:4")
    assert flight.deadline == taken_at + 8 + 10  # from its start, not from its take
    wait_until(lambda: len(hooked) == 5)
    worker_thread = running.threads.started[0][0].ident
    assert hooked[4][0] == "job:4" and {thread for _, thread in hooked} == {worker_thread}
    for identifier in ["job:1", "job:2", "job:3", "job:4"]:
        gates[identifier].set()
    tracker.wait_for(lambda: tracker.ends["success"] == 5)


def test_max_loops_bounds_the_jobs_taken(connection):
    jobs = Job.add_jobs([f"job:{number}" for number in range(20)], queue_name="q")
    worker = burst_worker(lambda job, queue: None, 10, max_loops=5)
    worker.run()
    assert statuses(jobs).count(STATUSES.SUCCESS) == 5
    assert statuses(jobs).count(STATUSES.WAITING) == 15
    assert connection.zcard(worker.running_key) == 0


def test_async_tasks_run_on_the_worker_loop_and_plain_ones_in_threads():
    results = [app.async_add.enqueue(1, 2), app.add.enqueue(3, 4), app.booms.enqueue()]
    worker = Worker("default", concurrency=4, burst=True, terminate_gracefuly=False, timeout=0.05)
    worker.run()
    assert results[0].wait(5).return_value == {"sum": 3, "loop": True}
    assert results[1].wait(5).return_value == 7
    assert TaskJob.get_from_ident(results[2].id).status.hget() == STATUSES.ERROR


def test_a_coroutine_past_its_timeout_is_cancelled_others_go_on():
    slow, quick = Job.add_jobs(["slow", "quick"], queue_name="q")
    seen = []

    async def callback(job, queue):
        if job.identifier.hget() == "quick":
            return "done"
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    worker = burst_worker(callback, 2, job_timeout=0.3)
    worker.run()
    assert slow.status.hget() == STATUSES.ERROR and quick.status.hget() == STATUSES.SUCCESS
    wait_until(lambda: seen == ["cancelled"])
    assert [error.type.hget() for error in Error.collection(identifier="slow").instances()] == ["JobTimeout"]


def test_a_thread_past_its_timeout_is_left_its_late_end_discarded():
    late, other = Job.add_jobs(["late", "other"], queue_name="q")
    release, returned = threading.Event(), threading.Event()

    def callback(job, queue):
        if job.identifier.hget() == "late":
            release.wait(30)
            returned.set()
            return "too late"

    # one thread: the job after the late one runs only if the late one's thread is replaced
    worker = burst_worker(callback, 1, execution_mode="threads", job_timeout=0.3)
    worker.run()
    assert late.status.hget() == STATUSES.ERROR and other.status.hget() == STATUSES.SUCCESS
    assert [error.type.hget() for error in Error.collection(identifier="late").instances()] == ["JobTimeout"]
    release.set()
    assert returned.wait(10)
    assert late.status.hget() == STATUSES.ERROR  # its late success is not written


def test_successes_that_land_together_are_written_together(round_trips):
    count = 40
    Job.add_jobs([f"job:{number}" for number in range(count)], queue_name="q")

    async def callback(job, queue):
        await asyncio.sleep(0.05)

    worker = burst_worker(callback, 20)
    with round_trips() as trips:
        worker.run()
    assert len(Job.collection(status=STATUSES.SUCCESS)) == count
    # each end and each take is a script: fewer of them than jobs (startup and idle reads aside)
    assert trips.commands.count("EVALSHA") < count


def test_concurrency_needs_the_worker_process():
    with pytest.raises(ConfigurationException, match="concurrency"):
        Worker("q", concurrency=4, execution_mode="fork")
    with pytest.raises(ConfigurationException, match="concurrency"):
        Worker("q", concurrency=0)


@pytest.mark.parametrize("lost", ["take_many", "finish_all_and_take"])
def test_a_lost_reply_loses_no_job_and_runs_none_twice(proxy, connection, lost):
    jobs = Job.add_jobs([f"job:{number}" for number in range(12)], queue_name="q")
    runs = collections.Counter()

    async def callback(job, queue):
        runs[job.identifier.hget()] += 1
        await asyncio.sleep(0.01)

    proxy.lose_reply(script(lost))
    worker = burst_worker(callback, 4)
    worker.run()
    assert proxy.counts.lost == 1
    assert statuses(jobs) == [STATUSES.SUCCESS] * 12
    assert runs == {f"job:{number}": 1 for number in range(12)}
    assert connection.zcard(worker.running_key) == 0


def test_execution_modes_put_every_job_in_one_lane():
    Job.add_jobs([f"job:{number}" for number in range(4)], queue_name="q")
    on_loop, in_threads = [], []

    def plain(job, queue):  # on the loop: it runs there, blocking it (for async code only)
        on_loop.append(threading.current_thread().name)

    burst_worker(plain, 4, execution_mode="asyncio").run()
    assert len(on_loop) == 4 and all(name.endswith("-loop") for name in on_loop)  # the loop's thread

    Job.add_jobs([f"again:{number}" for number in range(4)], queue_name="q")

    async def coroutine(job, queue):  # in the threads, each on a loop of its own
        in_threads.append(threading.current_thread().name)
        await asyncio.sleep(0)

    burst_worker(coroutine, 4, execution_mode="threads").run()
    assert len(in_threads) == 4  # in the pool's threads, never on a loop's
    assert all(name.startswith("limpyd-jobs-") and not name.endswith("-loop") for name in in_threads)


def test_an_async_callback_runs_one_at_a_time_too():
    job = Job.add_job("job", queue_name="q")

    async def callback(job, queue):
        await asyncio.sleep(0)
        return "awaited"

    worker = burst_worker(callback, 1)
    assert not worker.flights.active  # the default: one job at a time, as before
    worker.run()
    assert job.status.hget() == STATUSES.SUCCESS
