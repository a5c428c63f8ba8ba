"""Fencing under pauses: a worker process stopped (SIGSTOP, as a long GC pause or a VM migration
would) past its heartbeat timeout has its job recovered and run by another worker; woken up
(SIGCONT), its end is refused by its attempt token, it notices it was declared dead, registers
again and goes on working."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from chaos import _command, stop
from helpers import TESTS_DIR, eventually

from limpyd_jobs import STATUSES, Job
from limpyd_jobs.protocol import KEYS

QUEUE = "fencing"
OPTIONS = ["--max-loops=100000", "--timeout=0.2", "--no-title", "--heartbeat-interval=0.2",
           "--heartbeat-timeout=1.5", "--recovery-delay=0.2", "--logger-level=INFO"]


def noted_work(job, queue):
    """Note the start and the end of the run, with the worker's pid, around 3 s of work."""
    connection = job.get_connection()
    note = f"{job.identifier.hget()}:{os.getpid()}"
    connection.rpush("starts", note)
    time.sleep(3.0)
    connection.rpush("ends", note)


def _worker(log: Path) -> subprocess.Popen:
    with log.open("a") as output:
        return subprocess.Popen(
            [*_command("limpyd-jobs-worker"), f"--queues={QUEUE}",
             "--callback=system.test_fencing.noted_work", f"--pythonpath={TESTS_DIR}", *OPTIONS],
            stdout=subprocess.DEVNULL, stderr=output)


def test_a_paused_worker_is_fenced_off_and_comes_back(connection, tmp_path):
    paused_log, other_log = tmp_path / "paused.log", tmp_path / "other.log"
    paused = _worker(paused_log)
    other = None
    try:
        assert eventually(lambda: connection.zcard(KEYS.workers()) == 1, 20), "the worker did not register"
        paused_id = connection.zrange(KEYS.workers(), 0, -1)[0]
        job = Job.add_job(identifier="long", queue_name=QUEUE)
        assert eventually(lambda: connection.lrange("starts", 0, -1) == [f"long:{paused.pid}"], 20)
        paused.send_signal(signal.SIGSTOP)  # in the middle of the job's 3 s of work
        assert connection.lrange("ends", 0, -1) == [], "the job ended before the worker was paused"

        other = _worker(other_log)  # a live worker: it recovers the job of the silent one and runs it
        assert eventually(lambda: f"long:{other.pid}" in connection.lrange("ends", 0, -1), 30), \
            "the job of the paused worker was not recovered and run again"
        assert paused_id not in connection.zrange(KEYS.workers(), 0, -1)  # declared dead
        assert job.status.hget() == STATUSES.SUCCESS
        finished_by = job.attempt.hget()

        paused.send_signal(signal.SIGCONT)
        # it finishes its run (the callback cannot be fenced), its end is refused by token
        assert eventually(lambda: f"long:{paused.pid}" in connection.lrange("ends", 0, -1), 20)
        assert eventually(lambda: paused_id in connection.zrange(KEYS.workers(), 0, -1), 20), \
            "the woken worker did not register again"
        assert eventually(lambda: "was declared dead" in paused_log.read_text(), 10)
        assert job.status.hget() == STATUSES.SUCCESS and job.attempt.hget() == finished_by
        assert connection.lrange(f"{job.queue_key.hget()}:success", 0, -1).count(job.ident) == 1
        assert connection.hgetall(KEYS.worker(worker=paused_id))["pid"] == str(paused.pid)  # whole again

        stop([other])  # only the woken worker is left: it still works
        again = Job.add_job(identifier="after", queue_name=QUEUE)
        assert eventually(lambda: again.status.hget() == STATUSES.SUCCESS, 20), \
            "the woken worker does not work"
        assert f"after:{paused.pid}" in connection.lrange("ends", 0, -1)
        assert paused.poll() is None
    finally:
        if paused.poll() is None:
            paused.send_signal(signal.SIGCONT)
        stop([process for process in (paused, other) if process is not None])
        print(paused_log.read_text()[-3000:])
