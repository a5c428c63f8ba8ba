"""Worker processes with ``--concurrency``: SIGTERM lets the jobs in flight end and leaves the
reserved and other ones in order, SIGQUIT gives the jobs in flight back, a kill -9 leaves every
one of them to recovery, a burst runs its reserve, and ``--processes`` multiplies them."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from helpers import TESTS_DIR, wait_until

from limpyd_jobs import STATUSES, Job, Queue
from limpyd_jobs.protocol import KEYS


@pytest.fixture
def start_worker(redis_server, tmp_path):
    """``start_worker(*options)``: a worker process on the tests' Redis, killed at the end of the test."""
    started = []

    def start(*options: str) -> subprocess.Popen:
        log = open(tmp_path / f"worker-{len(started)}.log", "w")  # noqa: SIM115  (closed below)
        process = subprocess.Popen(
            [sys.executable, "-m", "limpyd_jobs.cli.worker", "--queues=q", f"--pythonpath={TESTS_DIR}",
             f"--database=127.0.0.1:{redis_server.port}:0", "--no-title", "--timeout=0.2",
             "--max-loops=0", *options], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()


def in_flight(connection) -> list[str]:
    return connection.lrange("in-flight", 0, -1)


def waiting(connection) -> list[str]:
    key = Queue.get_queue("q").waiting.key
    return [Job.get_from_ident(ident).identifier.hget() for ident in connection.lrange(key, 0, -1)]


def running_jobs(connection) -> int:
    return sum(connection.zcard(key) for key in connection.scan_iter(KEYS.running(worker="*")))


@pytest.mark.parametrize("callback", ["in_flight_until_go", "async_in_flight_until_go"])
def test_sigterm_lets_the_jobs_in_flight_end_the_reserved_and_others_stay_in_order(
        start_worker, connection, tmp_path, callback):
    jobs = Job.add_jobs([f"job:{number}" for number in range(8)], queue_name="q")
    worker = start_worker(f"--callback=sample_jobs.{callback}", "--concurrency=4")
    wait_until(lambda: len(in_flight(connection)) == 4 and running_jobs(connection) == 5,
               what=lambda: (in_flight(connection), running_jobs(connection)))
    assert waiting(connection) == ["job:5", "job:6", "job:7"]  # four slots and a reserve of one
    worker.send_signal(signal.SIGTERM)
    wait_until(lambda: "signal 15 caught" in (tmp_path / "worker-0.log").read_text())
    connection.set("go", 1)  # the slots free once the signal is in: the reserved job stays put
    assert worker.wait(30) == 0
    assert [job.status.hget() for job in jobs] == [STATUSES.SUCCESS] * 4 + [STATUSES.WAITING] * 4
    assert waiting(connection) == ["job:4", "job:5", "job:6", "job:7"]  # the reserved one first
    assert running_jobs(connection) == 0
    assert connection.llen("executions") == 4


def test_sigquit_gives_the_jobs_in_flight_back_at_the_front(start_worker, connection):
    jobs = Job.add_jobs([f"job:{number}" for number in range(6)], queue_name="q")
    worker = start_worker("--callback=sample_jobs.in_flight_until_go", "--concurrency=4")
    wait_until(lambda: len(in_flight(connection)) == 4 and running_jobs(connection) == 5,
               what=lambda: (in_flight(connection), running_jobs(connection)))  # job:4 reserved
    worker.send_signal(signal.SIGQUIT)
    worker.wait(30)
    assert [job.status.hget() for job in jobs] == [STATUSES.WAITING] * 6
    # in their order again: those in flight, then the reserved one
    assert waiting(connection) == [f"job:{number}" for number in range(6)]
    assert running_jobs(connection) == 0
    assert connection.llen("executions") == 0


@pytest.mark.parametrize("concurrency", [6, 4])  # all in flight; four in flight, one reserved
def test_a_killed_worker_leaves_every_job_in_flight_to_recovery(start_worker, connection, concurrency):
    jobs = Job.add_jobs([f"job:{number}" for number in range(6)], queue_name="q")
    beats = ("--heartbeat-interval=0.2", "--heartbeat-timeout=1", "--recovery-delay=0.3")
    victim = start_worker("--callback=sample_jobs.in_flight_until_go", f"--concurrency={concurrency}", *beats)
    held = min(6, concurrency + concurrency // 4)
    wait_until(lambda: len(in_flight(connection)) == concurrency and running_jobs(connection) == held,
               what=lambda: (in_flight(connection), running_jobs(connection)))
    victim.kill()
    victim.wait(10)
    assert running_jobs(connection) == held
    connection.set("go", 1)
    rescuer = start_worker("--callback=sample_jobs.in_flight_until_go", "--concurrency=6", *beats)
    wait_until(lambda: all(job.status.hget() == STATUSES.SUCCESS for job in jobs),
               what=lambda: [job.status.hget() for job in jobs])
    rescuer.send_signal(signal.SIGTERM)
    assert rescuer.wait(30) == 0
    assert running_jobs(connection) == 0
    # killed before they ended (and the reserved one before it started): each one ran once, after
    executed = sorted(entry.split(":")[1] for entry in connection.lrange("executions", 0, -1))
    assert executed == [str(number) for number in range(6)]


def test_a_burst_runs_the_reserved_jobs_and_waits_for_those_in_flight(start_worker, connection):
    jobs = Job.add_jobs([f"job:{number}" for number in range(7)], queue_name="q")
    worker = start_worker("--callback=sample_jobs.in_flight_until_go", "--concurrency=4", "--burst")
    wait_until(lambda: len(in_flight(connection)) == 4 and running_jobs(connection) == 5,
               what=lambda: (in_flight(connection), running_jobs(connection)))
    connection.set("go", 1)
    assert worker.wait(30) == 0
    assert [job.status.hget() for job in jobs] == [STATUSES.SUCCESS] * 7
    assert running_jobs(connection) == 0


def test_processes_and_concurrency_multiply(start_worker, connection):
    jobs = Job.add_jobs([f"job:{number}" for number in range(6)], queue_name="q")
    pool = start_worker("--callback=sample_jobs.in_flight_until_go", "--concurrency=3", "--processes=2",
                        "--burst")
    wait_until(lambda: len(in_flight(connection)) == 6, what=lambda: in_flight(connection))
    assert len({entry.split(":")[0] for entry in in_flight(connection)}) == 2  # three in each process
    connection.set("go", 1)
    assert pool.wait(60) == 0
    assert [job.status.hget() for job in jobs] == [STATUSES.SUCCESS] * 6
