"""Network faults: lost replies and reset connections (through a fault-injecting proxy), stale
workers, and Redis errors of every kind. No job is lost, stuck, or run twice; no hook is
skipped or run twice; no process exits for an outage."""

from __future__ import annotations

import logging
import threading

import pytest
import redis
from sample_jobs import HookJob

from limpyd_jobs import STATUSES, Error, Job, Queue
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.outages import Outage, is_outage
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.recurring.scheduler import RecurringJob, set_schedule, tell
from limpyd_jobs.testing.proxy import command, script
from limpyd_jobs.workers import Worker


@pytest.fixture
def direct(redis_server):
    """A client of Redis itself, around the proxy."""
    return redis_server.client(decode_responses=True)


def executions(direct):
    return direct.lrange("executions", 0, -1)


def record(job, queue):
    job.get_connection().rpush("executions", job.identifier.hget())


def running_set(direct, worker):
    return direct.zrange(KEYS.running(worker=worker.id), 0, -1)


# --- one lost reply at a time


def test_a_lost_reply_of_the_take_leaves_no_job_behind(make_worker, proxy, direct):
    job = Job.add_job(identifier="job:1", queue_name="q")
    proxy.lose_reply(script("take"))
    worker = make_worker(callback=record, max_loops=1)
    worker.run()
    assert executions(direct) == ["job:1"]  # it ran once: given back by the worker, taken again
    assert job.status.hget() == STATUSES.SUCCESS
    assert job.tries.hget() == "1"  # the take whose reply was lost does not count
    assert running_set(direct, worker) == []
    assert proxy.counts.lost == 1


def test_a_lost_reply_of_the_end_and_take_runs_each_hook_once(make_worker, proxy, direct):
    first = HookJob.add_job(identifier="job:1", queue_name="q")
    second = HookJob.add_job(identifier="job:2", queue_name="q")
    proxy.lose_reply(script("finish_and_take"))
    worker = make_worker(callback=lambda job, queue: record(job, queue) or job.run(queue), max_loops=2)
    worker.run()
    assert executions(direct) == ["job:1", "job:2"]
    for job in (first, second):
        assert job.status.hget() == STATUSES.SUCCESS and job.queued.hget() is None
        assert direct.lrange(f"hooks:{job.pk.get()}", 0, -1) == ["started", "success:ran"]
    assert second.tries.hget() == "1"
    assert running_set(direct, worker) == []


def test_a_lost_reply_of_an_error_end_still_requeues_the_job(make_worker, proxy, direct):
    job = Job.add_job(identifier="job:1", queue_name="q")

    def fails_once(job, queue):
        record(job, queue)
        if len(executions(direct)) == 1:
            raise ValueError("first run fails")

    proxy.lose_reply(script("finish"))  # the error's end: its reply is lost, the script sent again
    make_worker(callback=fails_once, max_loops=2, requeue_times=1, requeue_delay_delta=0).run()
    assert executions(direct) == ["job:1", "job:1"]
    assert job.status.hget() == STATUSES.SUCCESS
    assert len(Error.collection_for_job(job)) == 1
    assert Job.add_job(identifier="job:1", queue_name="q") != job  # not stuck as queued


def test_a_lost_reply_of_a_recurring_run_end_keeps_its_schedule(make_worker, proxy, direct):
    set_schedule("poll:q", "CONTINUE")
    proxy.lose_reply(script("finish"))
    make_worker(callback=record, max_loops=1).run()
    assert executions(direct) == ["poll:q"]
    runs = sorted(RecurringJob.collection(identifier="poll:q").instances(), key=lambda run: int(run.pk.get()))
    assert [run.status.hget() for run in runs] == [STATUSES.SUCCESS, STATUSES.WAITING]  # the next one
    assert tell("poll:q")["status"].startswith("ENQ:")


def test_a_reset_wait_is_ridden_out(make_worker, proxy, direct, threads):
    Queue.get_queue("q")  # a worker waits for jobs once one of its queues exists
    worker = make_worker(callback=record, max_loops=1, timeout=30, waiting=True)
    proxy.reset(command("BLPOP"))  # the first wait is cut

    def add_when_waiting_again():
        assert worker.waiting.wait(20)
        Job.add_job(identifier="job:1", queue_name="q")

    threads.start(add_when_waiting_again)
    worker.run()
    assert executions(direct) == ["job:1"]


@pytest.mark.parametrize("name", ["add_job", "enqueue_job", "requeue_delayed", "dispatch_due"])
def test_a_script_safe_to_send_again_survives_a_lost_reply(name, proxy, clock):
    proxy.lose_reply(script(name))
    if name == "add_job":
        job = Job.add_job(identifier="job:1", queue_name="q")
        assert Queue.get_queue("q").waiting.lmembers() == [job.ident] and len(Job.collection()) == 1
    elif name == "enqueue_job":
        job = Job(identifier="job:1")
        job.enqueue_or_delay(queue_name="q")
        assert Queue.get_queue("q").waiting.lmembers() == [job.ident]
    elif name == "requeue_delayed":
        job = Job.add_job(identifier="job:1", queue_name="q", delayed_for=10)
        clock.advance(11)
        Queue.get_queue("q").requeue_delayed_jobs()
        assert Queue.get_queue("q").waiting.lmembers() == [job.ident]
    else:
        set_schedule("a:q", f"AT:{clock.time() + 10}")
        clock.advance(11)
        from limpyd_jobs.recurring.scheduler import dispatch

        dispatch()
        assert Queue.count_waiting_jobs("q") == 1
    assert proxy.counts.lost == 1


@pytest.mark.parametrize("name", ["take_many", "finish_all_and_take", "untake"])
def test_a_lost_reply_of_a_batch_script_loses_no_job_and_runs_none_twice(name, make_worker, proxy, direct):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(6)]
    proxy.lose_reply(script(name))

    def record_then_stop_for_untake(job, queue):
        record(job, queue)
        if name == "untake" and job.identifier.hget() == "job:0":
            worker.end_forced = True  # the two other jobs of the batch go back, untouched

    worker = make_worker(callback=record_then_stop_for_untake, prefetch=3, max_loops=0, burst=True)
    worker.run()
    if name == "untake":  # the reply of the give back was lost: its script ran, or recovery will do it
        assert [job.status.hget() for job in jobs[1:3]] in ([STATUSES.WAITING] * 2, [STATUSES.RUNNING] * 2)
        make_worker(callback=record, max_loops=0, burst=True, heartbeat_timeout=0.01).recover_lost_jobs()
        make_worker(callback=record, max_loops=0, burst=True).run()
    assert sorted(executions(direct)) == [f"job:{number}" for number in range(6)]  # each once
    assert [job.status.hget() for job in jobs] == [STATUSES.SUCCESS] * 6
    assert running_set(direct, worker) == [] and proxy.counts.lost == 1


def test_a_lost_reply_of_a_script_not_safe_to_send_again_raises(proxy):
    Job.add_job(identifier="job:1", queue_name="q")
    proxy.lose_reply(script("take"))
    worker = Worker("q", terminate_gracefuly=False)
    worker.update_keys()
    with pytest.raises(redis.ConnectionError):
        worker.fetcher.take(worker.keys)
    assert worker.fetcher.take_lost  # the worker gives back what it holds unknowingly before its next take


# --- outages of every kind


@pytest.mark.parametrize("error, outage", [
    (redis.ConnectionError("down"), True),
    (redis.TimeoutError("slow"), True),
    (redis.exceptions.OutOfMemoryError("OOM command not allowed"), True),
    (redis.exceptions.ReadOnlyError("READONLY You can't write against a read only replica."), True),
    (redis.exceptions.BusyLoadingError("LOADING Redis is loading"), True),
    (redis.ResponseError("BUSY Redis is busy running a script"), True),
    (redis.ResponseError("MASTERDOWN Link with MASTER is down"), True),
    (redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), False),
    (redis.exceptions.NoPermissionError("NOPERM"), False),
])
def test_which_errors_are_outages(error, outage):
    assert is_outage(error) is outage


class _Waits:
    """Stands for a stop event: records how long each wait is, never stops."""

    def __init__(self):
        self.delays = []

    def wait(self, delay):
        self.delays.append(delay)
        return False


def test_an_outage_probes_redis_at_least_once_a_second():
    answers = iter([redis.ConnectionError("down")] * 8 + [True])

    def ping():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    waits, lines = _Waits(), []
    outage = Outage(redis.ConnectionError("down"), "to work", ping, waits,
                    lambda line, level: lines.append(line))
    assert outage.wait() is True
    assert len(waits.delays) == 9 and max(waits.delays) == 1.0  # growing from 50 ms, capped at 1 s
    assert waits.delays[:3] == [0.05, 0.1, 0.2]
    assert lines == ["Redis unavailable (down) to work: waiting for it"]


def test_a_worker_rides_out_redis_running_out_of_memory(make_worker, threads, redis_server):
    from limpyd_jobs.testing.server import RedisServer

    with RedisServer() as full:
        client = full.client(decode_responses=True)
        BaseJobsModel.database.reset(host="127.0.0.1", port=full.port, db=0)
        try:
            job = Job.add_job(identifier="job:1", queue_name="q")
            client.config_set("maxmemory-policy", "noeviction")
            client.set("ballast", "x" * 2_000_000)
            client.config_set("maxmemory", client.info("memory")["used_memory"])  # no room left
            seen = threading.Event()

            class Watching(logging.Handler):
                def emit(self, record_):
                    if "Redis unavailable" in record_.getMessage():
                        seen.set()

            watcher = Watching()
            logging.getLogger("limpyd-jobs").addHandler(watcher)

            def make_room():
                assert seen.wait(20)
                client.delete("ballast")
                client.config_set("maxmemory", 0)

            threads.start(make_room)
            try:
                make_worker(callback=record, max_loops=1).run()  # waits out the OOM, does not exit
            finally:
                logging.getLogger("limpyd-jobs").removeHandler(watcher)
            threads.join()
            assert job.status.hget() == STATUSES.SUCCESS
            assert client.lrange("executions", 0, -1) == ["job:1"]
        finally:
            BaseJobsModel.database.reset(host="127.0.0.1", port=redis_server.port, db=0)


# --- a stale worker (recovered while paused) writes nothing over a newer attempt


def _take(worker):
    worker.update_keys()
    return worker.wait_for_job()


def _newer_attempt_succeeds(stale, make_worker, connection):
    """The stale worker is declared dead, its job recovered and run to SUCCESS by another."""
    connection.zadd(KEYS.workers(), {stale.id: 0})
    connection.delete(KEYS.recovery_lock())
    make_worker().recover_lost_jobs()
    make_worker(callback=record, max_loops=1).run()


@pytest.mark.parametrize("outcome", ["success", "error", "delay", "skip", "give back"])
def test_a_stale_worker_writes_nothing_over_a_newer_attempt(outcome, make_worker, connection, direct, caplog):
    job = HookJob.add_job(identifier="job:1", queue_name="q")
    stale = make_worker(callback=record)
    queue, taken = _take(stale)
    _newer_attempt_succeeds(stale, make_worker, connection)
    assert job.status.hget() == STATUSES.SUCCESS and job.tries.hget() == "2"
    end, hooks_before = job.end.hget(), direct.lrange(f"hooks:{job.pk.get()}", 0, -1)
    if outcome == "success":
        stale.handle_job(taken, queue)  # its run, paused until now, ends
    elif outcome == "error":
        stale.callback = lambda job, queue: 1 / 0
        stale.requeue_times = 5
        stale.handle_job(taken, queue)
    elif outcome == "delay":
        stale.job_delayed(taken, queue)
    elif outcome == "skip":
        stale.job_skipped(taken, queue)
    else:
        stale.give_back(taken, queue)
    assert job.status.hget() == STATUSES.SUCCESS and job.end.hget() == end
    assert job.queued.hget() is None
    assert Queue.get_queue("q").success.lmembers() == [job.ident]
    assert Queue.count_waiting_jobs("q") == Queue.count_delayed_jobs("q") == 0
    assert len(Error.collection_for_job(job)) == 0
    assert running_set(direct, stale) == []
    assert "taken again meanwhile" in caplog.text
    hooks = direct.lrange(f"hooks:{job.pk.get()}", 0, -1)
    assert hooks[:len(hooks_before)] == hooks_before
    assert set(hooks[len(hooks_before):]) <= {"started"}  # no end hook for the stale attempt


class PausingJob(HookJob):
    """Pauses in its on_error (as a worker paused past its heartbeat timeout would): meanwhile
    its attempt is recovered and a newer one succeeds."""

    namespace = "tests"
    pause = None  # set by the test

    def on_error(self, queue, exception, traceback):
        super().on_error(queue, exception, traceback)
        PausingJob.pause()


def test_a_stale_worker_paused_in_on_error_does_not_requeue_a_newer_success(make_worker, connection, direct):
    job = PausingJob.add_job(identifier="job:1", queue_name="q")
    stale = make_worker(callback=lambda job, queue: 1 / 0, requeue_times=5, requeue_delay_delta=0)
    PausingJob.pause = lambda: _newer_attempt_succeeds(stale, make_worker, connection)
    queue, taken = _take(stale)
    stale.handle_job(taken, queue)  # fails, writes its error, pauses in on_error, then requeues
    assert job.status.hget() == STATUSES.SUCCESS  # the newer attempt's, not overwritten
    assert Queue.get_queue("q").success.lmembers() == [job.ident]  # once
    assert Queue.count_waiting_jobs("q") == Queue.count_delayed_jobs("q") == 0
    assert job.queued.hget() is None
    hooks = direct.lrange(f"hooks:{job.pk.get()}", 0, -1)
    assert hooks == ["started", "error:ZeroDivisionError", "started", "success:None"]  # no "requeued"
    assert running_set(direct, stale) == []


# --- the sweeper and the dispatcher ride out outages; the registry heals


def test_the_sweeper_rides_out_an_outage(make_worker, redis_server, connection, threads):
    from limpyd_jobs.workers.registry import run_sweeper

    job = Job.add_job(identifier="job:1", queue_name="q")
    dead = make_worker()
    _take(dead)
    connection.zadd(KEYS.workers(), {dead.id: 0})
    connection.save()
    redis_server.stop(keep_directory=True)  # the sweeper starts during an outage
    stop = threading.Event()
    threads.start(run_sweeper, BaseJobsModel.database, "sweeper-test", 30, 5, Error, 0.05, stop)
    try:
        redis_server.start_again()
        for _ in range(400):  # bounded: the sweeper recovers the job once Redis answers
            if job.status.hget() == STATUSES.WAITING:
                break
            stop.wait(0.05)
    finally:
        stop.set()
    threads.join()
    assert job.status.hget() == STATUSES.WAITING


def test_the_dispatcher_rides_out_an_outage(redis_server, connection, clock, threads):
    from limpyd_jobs.recurring.scheduler import run_dispatcher

    set_schedule("a:q", f"AT:{clock.time() + 60}")
    connection.save()
    redis_server.stop(keep_directory=True)
    stop = threading.Event()
    threads.start(run_dispatcher, 0.05, None, False, stop)
    try:
        clock.advance(61)
        redis_server.start_again()
        for _ in range(400):
            if Queue.count_waiting_jobs("q"):
                break
            stop.wait(0.05)
    finally:
        stop.set()
    threads.join()
    assert Queue.count_waiting_jobs("q") == 1 and tell("a:q")["status"].startswith("ENQ:")


def test_a_worker_recovered_while_paused_shows_itself_whole_again_at_its_next_beat(make_worker, connection):
    worker = make_worker()
    worker.presence.start()
    try:
        connection.delete(KEYS.worker(worker=worker.id))  # as a recovery does
        connection.zrem(KEYS.workers(), worker.id)
        worker.presence.beat()
        [info] = Worker.registered_workers()
        assert info.id == worker.id and info.alive
        assert info.info["queues"] == "q" and info.info["host"] and info.info["pid"]
    finally:
        worker.presence.stop()


def test_a_redis_error_while_deciding_the_requeue_leaves_no_job_running(make_worker, proxy, direct):
    job = Job.add_job(identifier="job:1", queue_name="q")

    def fails(job, queue):
        proxy.reset(command("HGET"))  # the next read (cancel_on_error, tries) is cut
        raise ValueError("failed")

    worker = make_worker(callback=fails, max_loops=1)
    worker.run()
    assert job.status.hget() == STATUSES.ERROR and job.queued.hget() is None
    assert Queue.get_queue("q").errors.lmembers() == [job.ident]
    assert running_set(direct, worker) == []
    assert proxy.counts.resets == 1


@pytest.mark.parametrize("lost", [1, 2], ids=["look", "adoption"])
def test_a_lost_reply_of_add_job_with_fields_limpyd_writes_adds_one_job(proxy, lost):
    from compat_app import RichJob  # fields of other types, custom and unique indexes

    calls = []
    is_add_job = script("add_job")

    def nth_add_job(request):  # the look for a queued job (1), or making the job of limpyd's instance (2)
        if is_add_job(request):
            calls.append(request)
            return len(calls) == lost
        return False

    proxy.lose_reply(nth_add_job)
    job = RichJob.add_job(identifier="rich:1", text="hello", code="C1")
    assert len(calls) == lost  # the fault was used (on that call; it was sent again)
    assert list(RichJob.collection(identifier="rich:1")) == [job.pk.get()]
    assert job.text.get() == "hello" and job.queued.hget() == "1"
    assert Queue.get_queue("rich").waiting.lmembers() == [job.ident]
