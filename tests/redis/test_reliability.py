"""No job is lost: attempt tokens, registry and heartbeats, recovery, timeouts, outages, signals."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest
from helpers import wait_until

from limpyd_jobs import STATUSES, Error, Job, Queue
from limpyd_jobs.cli.sweeper import main as sweeper_main
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.workers import Worker

WORKERS_KEY = KEYS.workers()


def take(worker):
    """Have a worker take the next job, as if it were about to run it."""
    worker.update_keys()
    return worker.wait_for_job()


def declare_dead(worker, connection):
    """Make the registry believe this worker stopped beating long ago."""
    connection.zadd(WORKERS_KEY, {worker.id: time.time() - 3600})


# --- reliable fetch and attempt tokens


def test_a_taken_job_sits_in_the_workers_running_set(make_worker, connection):
    job = Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker()
    take(worker)
    assert connection.zrange(worker.running_key, 0, -1) == [job.ident]
    assert Queue.get_queue("q").waiting.llen() == 0
    assert job.status.hget() == STATUSES.RUNNING
    assert job.attempt.hget() == f"{worker.id}:1"


def test_recovery_gives_a_lost_job_back_to_the_front_of_its_queue(make_worker, connection):
    lost = Job.add_job(identifier="lost", queue_name="q")
    other = Job.add_job(identifier="other", queue_name="q")
    dead = make_worker()
    take(dead)
    declare_dead(dead, connection)
    rescuer = make_worker(callback=lambda job, queue: None)
    rescuer.recover_lost_jobs()
    assert lost.status.hget() == STATUSES.WAITING and lost.queued.hget() == "1"
    assert Queue.get_queue("q").waiting.lmembers() == [lost.ident, other.ident]
    assert connection.exists(dead.running_key) == 0
    assert connection.zscore(WORKERS_KEY, dead.id) is None
    assert lost.tries.hget() == "1"  # the lost attempt counts


def test_a_late_finisher_cannot_overwrite_a_newer_attempt(make_worker, connection, caplog):
    job = Job.add_job(identifier="job:1", queue_name="q")
    first = make_worker()
    queue, taken = take(first)
    declare_dead(first, connection)
    second = make_worker(callback=lambda job, queue: "second")
    second.recover_lost_jobs()
    second.max_loops = 1
    second.run()
    assert job.status.hget() == STATUSES.SUCCESS and job.attempt.hget() == f"{second.id}:2"
    end = job.end.hget()
    # the first attempt ends now, in error: refused, nothing written
    first.job_error(taken, queue, ValueError("too late"))
    assert job.status.hget() == STATUSES.SUCCESS and job.end.hget() == end
    assert len(Error.collection_for_job(job)) == 0
    assert Queue.get_queue("q").success.lmembers() == [job.ident]
    assert "was recovered and taken again" in caplog.text
    assert connection.zcard(first.running_key) == 0


def test_a_job_whose_worker_always_dies_ends_in_error(make_worker, connection):
    job = Job.add_job(identifier="poison", queue_name="q")
    for attempt in range(1, 4):
        worker = make_worker(lost_job_max_tries=3)
        take(worker)
        assert job.tries.hget() == str(attempt)
        declare_dead(worker, connection)
        connection.delete("limpyd-jobs:recovery-lock")
        make_worker(lost_job_max_tries=3).recover_lost_jobs()
    assert job.status.hget() == STATUSES.ERROR
    assert job.queued.hget() is None
    assert Queue.get_queue("q").errors.lmembers() == [job.ident]
    error = Error.collection_for_job(job).instances()[0]
    assert error.type.hget() == "WorkerLost"
    assert "on each of its 3 attempts" in error.message.hget()
    assert Job.add_job(identifier="poison", queue_name="q") != job  # can be added again


def test_recovery_unqueues_canceled_jobs_and_skips_deleted_ones(make_worker, connection):
    canceled = Job.add_job(identifier="canceled", queue_name="q")
    deleted = Job.add_job(identifier="deleted", queue_name="q")
    worker = make_worker()
    take(worker)
    take(worker)
    canceled.status.hset(STATUSES.CANCELED)  # canceled by a user while it ran
    deleted_pk = deleted.pk.get()
    deleted.delete()
    declare_dead(worker, connection)
    make_worker().recover_lost_jobs()
    assert canceled.status.hget() == STATUSES.CANCELED and canceled.queued.hget() is None
    assert not Job.exists(pk=deleted_pk)
    assert Queue.count_waiting_jobs("q") == 0
    assert connection.exists(worker.running_key) == 0


def test_sweeper_command_recovers_once(make_worker, connection, redis_server, capsys):
    job = Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker()
    take(worker)
    declare_dead(worker, connection)
    code = sweeper_main([f"--database=127.0.0.1:{redis_server.port}:0", "--once",
                         "--heartbeat-timeout=10"])
    assert code == 0
    assert job.status.hget() == STATUSES.WAITING


def test_sweeper_misuse_exits_non_zero(capsys):
    assert sweeper_main(["--heartbeat-timeout=soon"]) == 2
    assert "option --heartbeat-timeout: invalid integer value: 'soon'" in capsys.readouterr().err


# --- registry and heartbeats


def test_registry_lists_a_running_worker_then_forgets_it(make_worker, connection):
    seen = []

    def look(job, queue):
        seen.extend(Worker.registered_workers())

    Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker(callback=look, max_loops=1, execution_mode="inprocess")
    worker.run()
    [info] = seen
    assert info.id == worker.id and info.alive
    assert info.info["pid"] == str(os.getpid()) and info.info["queues"] == "q"
    assert info.info["mode"] == "inprocess" and info.info["host"]
    assert info.running == [Job.collection(identifier="job:1").instances()[0].ident]
    assert Worker.registered_workers() == []


def test_a_beat_brings_back_whole_a_worker_a_recovery_removed(make_worker, connection, clock):
    worker = make_worker()
    presence = worker.presence
    presence.beat()
    entry = connection.hgetall(KEYS.worker(worker=worker.id))
    assert set(entry) == {"host", "pid", "queues", "mode", "started"}
    connection.delete(KEYS.worker(worker=worker.id))  # as a recovery does for a worker that stopped beating
    connection.zrem(KEYS.workers(), worker.id)
    clock.advance(5)
    presence.beat()
    assert connection.hgetall(KEYS.worker(worker=worker.id)) == entry
    assert connection.zscore(KEYS.workers(), worker.id) == clock.time()


def test_heartbeats_go_on_while_a_long_job_runs(make_worker, connection):
    beats = []

    def long_job(job, queue):
        first = connection.zscore(WORKERS_KEY, worker.id)
        wait_until(lambda: connection.zscore(WORKERS_KEY, worker.id) > first)
        beats.append(first)

    Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker(callback=long_job, max_loops=1, heartbeat_interval=0.05)
    worker.run()
    assert beats and Job.collection(status=STATUSES.SUCCESS)


# --- execution modes and timeouts


def sleeper(job, queue):
    time.sleep(3600)  # a test whose job is not stopped hangs (and pytest-timeout fails it)


def crasher(job, queue):
    os._exit(3)


def killer(job, queue):
    os.kill(os.getpid(), signal.SIGKILL)


def pid_recorder(job, queue):
    job.get_connection().rpush("pids", os.getpid())


@pytest.mark.parametrize("mode", ["fork", "prefork"])
def test_forked_modes_run_jobs_in_a_child(make_worker, mode, connection):
    jobs = [Job.add_job(identifier=f"job:{n}", queue_name="q") for n in range(3)]
    make_worker(callback=pid_recorder, max_loops=3, execution_mode=mode).run()
    assert all(job.status.hget() == STATUSES.SUCCESS for job in jobs)
    pids = connection.lrange("pids", 0, -1)
    assert str(os.getpid()) not in pids
    assert len(set(pids)) == (3 if mode == "fork" else 1)


@pytest.mark.parametrize("mode", ["fork", "prefork", "inprocess"])
def test_a_job_past_its_timeout_is_stopped_and_recorded(make_worker, mode):
    job = Job.add_job(identifier="slow", queue_name="q")
    after = Job.add_job(identifier="after", queue_name="q")
    calls = []

    def callback(job, queue):
        calls.append(job.identifier.hget())
        if job.identifier.hget() == "slow":
            sleeper(job, queue)

    worker = make_worker(callback=callback, max_loops=2, execution_mode=mode, job_timeout=0.3,
                         timeout_grace=0.5, requeue_times=1, requeue_delay_delta=60)
    worker.run()
    error = Error.collection_for_job(job).instances()[0]
    assert error.type.hget() == "JobTimeout"
    assert job.status.hget() == STATUSES.DELAYED  # requeue rules apply
    assert after.status.hget() == STATUSES.SUCCESS


def stubborn_sleeper(job, queue):
    while True:  # refuses to stop: only SIGKILL ends it
        try:
            time.sleep(3600)
        except BaseException:
            continue


@pytest.mark.parametrize("mode", ["fork", "prefork"])
def test_a_job_ignoring_sigterm_is_killed_after_the_grace_period(make_worker, mode):
    job = Job.add_job(identifier="stubborn", queue_name="q")
    worker = make_worker(callback=stubborn_sleeper, max_loops=1, execution_mode=mode, job_timeout=0.2,
                         timeout_grace=0.3)
    worker.run()
    error = Error.collection_for_job(job).instances()[0]
    assert error.type.hget() == "JobTimeout"
    assert job.status.hget() == STATUSES.ERROR


def test_a_job_timeout_field_overrides_the_workers(make_worker):
    job = Job.add_job(identifier="slow", queue_name="q", timeout=0.2)
    make_worker(callback=sleeper, max_loops=1, execution_mode="fork", job_timeout=60,
                timeout_grace=0.2).run()
    assert job.status.hget() == STATUSES.ERROR
    assert Error.collection_for_job(job).instances()[0].type.hget() == "JobTimeout"


@pytest.mark.parametrize("mode, callback", [("fork", crasher), ("prefork", killer)])
def test_a_dying_child_is_recorded_and_the_worker_goes_on(make_worker, mode, callback):
    dying = Job.add_job(identifier="dying", queue_name="q")
    fine = Job.add_job(identifier="fine", queue_name="q")

    def run(job, queue):
        if job.identifier.hget() == "dying":
            callback(job, queue)

    make_worker(callback=run, max_loops=2, execution_mode=mode, timeout_grace=0.2).run()
    error = Error.collection_for_job(dying).instances()[0]
    assert error.type.hget() == "JobProcessDied"
    assert ("exit code 3" if mode == "fork" else f"signal {int(signal.SIGKILL)}") in error.message.hget()
    assert dying.status.hget() == STATUSES.ERROR
    assert fine.status.hget() == STATUSES.SUCCESS


# --- signals


def test_sigquit_stops_now_and_gives_the_job_back(connection):
    job = Job.add_job(identifier="job:1", queue_name="q")
    other = Job.add_job(identifier="job:2", queue_name="q")

    def stubborn(job, queue):
        os.kill(os.getpid(), signal.SIGTERM)  # after the job...
        os.kill(os.getpid(), signal.SIGQUIT)  # ...no: now
        time.sleep(3600)  # interrupted by SIGQUIT

    worker = Worker("q", callback=stubborn, timeout=0.05)
    worker.run()
    assert worker.signals_caught == 2
    assert job.status.hget() == STATUSES.WAITING and job.queued.hget() == "1"
    assert Queue.get_queue("q").waiting.lmembers() == [job.ident, other.ident]
    assert connection.zcard(worker.running_key) == 0
    assert Worker.registered_workers() == []


def test_second_sigterm_lets_the_job_finish():
    job = Job.add_job(identifier="job:1", queue_name="q")
    other = Job.add_job(identifier="job:2", queue_name="q")

    def twice(job, queue):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        return "finished"

    worker = Worker("q", callback=twice, timeout=0.05)
    worker.run()
    assert worker.signals_caught == 2 and worker.num_loops == 1
    assert job.status.hget() == STATUSES.SUCCESS
    assert other.status.hget() == STATUSES.WAITING


def test_sigquit_in_fork_mode_kills_the_child_and_gives_the_job_back(connection):
    job = Job.add_job(identifier="job:1", queue_name="q")

    def stubborn(job, queue):
        os.kill(os.getppid(), signal.SIGQUIT)
        time.sleep(3600)  # killed with its process by SIGQUIT

    worker = Worker("q", callback=stubborn, timeout=0.05, execution_mode="fork")
    worker.run()
    assert job.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("q").waiting.lmembers() == [job.ident]


# --- Redis outages


class _OutageSeen(logging.Handler):
    def __init__(self):
        super().__init__()
        self.seen = threading.Event()

    def emit(self, record):
        if "Redis unavailable" in record.getMessage():
            self.seen.set()


def test_a_job_finished_during_an_outage_is_recorded_once_redis_is_back(make_worker, redis_server, threads):
    job = Job.add_job(identifier="job:1", queue_name="q")
    watcher = _OutageSeen()
    logging.getLogger("limpyd-jobs").addHandler(watcher)

    def restart_when_seen():
        assert watcher.seen.wait(30)
        redis_server.start_again()

    def cut_redis(job, queue):
        job.get_connection().save()  # the restarted server loads this snapshot
        redis_server.stop(keep_directory=True)
        threads.start(restart_when_seen)
        return "done"

    try:
        worker = make_worker(callback=cut_redis, max_loops=1)
        worker.run()
    finally:
        logging.getLogger("limpyd-jobs").removeHandler(watcher)
    assert job.status.hget() == STATUSES.SUCCESS
    assert Queue.get_queue("q").success.lmembers() == [job.ident]


def test_a_worker_rides_out_a_redis_restart_and_resumes(make_worker, redis_server, threads):
    watcher = _OutageSeen()
    logging.getLogger("limpyd-jobs").addHandler(watcher)
    done = []

    def restart_when_seen():
        assert watcher.seen.wait(30)
        redis_server.start_again()

    def callback(job, queue):
        done.append(job.identifier.hget())
        if len(done) == 1:
            job.get_connection().save()
            redis_server.stop(keep_directory=True)
            threads.start(restart_when_seen)

    Job.add_job(identifier="job:1", queue_name="q")
    Job.add_job(identifier="job:2", queue_name="q")
    try:
        make_worker(callback=callback, max_loops=2).run()
    finally:
        logging.getLogger("limpyd-jobs").removeHandler(watcher)
    assert done == ["job:1", "job:2"]
    assert {job.status.hget() for job in Job.collection().instances()} == {STATUSES.SUCCESS}


@pytest.mark.slow
def test_the_child_of_a_killed_worker_finishes_its_job_and_exits_quietly(redis_server, connection):
    import subprocess
    import sys
    from pathlib import Path

    job = Job.add_job(identifier="job:1", queue_name="q")
    tests_dir = str(Path(__file__).parent.parent)
    worker = subprocess.Popen(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", "--queues=q", "--callback=sample_jobs.wait_for_go",
         f"--pythonpath={tests_dir}", f"--database=127.0.0.1:{redis_server.port}:0", "--execution-mode=fork",
         "--no-title", "--timeout=0.2"],
        stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: connection.llen("child-pids") == 1)
        child = int(connection.lindex("child-pids", 0))
        [registered] = Worker.registered_workers()
        worker.kill()  # SIGKILL: the worker dies while its child runs the job
        worker.wait(10)
        connection.set("go", 1)

        def child_gone():
            try:
                os.kill(child, 0)
                return Path(f"/proc/{child}/status").read_text().count("State:\tZ") == 1
            except ProcessLookupError:
                return True

        wait_until(child_gone)
        output = worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.stderr.close()
    assert job.status.hget() == STATUSES.SUCCESS  # the child recorded its job
    assert "run ended" not in output  # it did not go on as the dead worker
    assert connection.exists(KEYS.worker(worker=registered.id))  # nor unregister it: recovery will
