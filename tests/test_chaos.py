"""Chaos: worker processes SIGKILLed at random moments and restarted; no job is lost or stuck."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from limpyd_jobs import STATUSES, Job, Queue

TESTS_DIR = str(Path(__file__).parent)
JOBS, WORKERS, KILLS = 300, 3, 12


def start_worker(port: int, mode: str) -> subprocess.Popen:
    script = Path(sys.executable).parent / "limpyd-jobs-worker"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "limpyd_jobs.cli.worker"]
    return subprocess.Popen(
        [*command, "--queues=chaos", "--callback=sample_jobs.short_work", f"--pythonpath={TESTS_DIR}",
         f"--database=127.0.0.1:{port}:0", "--max-loops=100000", "--timeout=0.2", "--no-title",
         "--heartbeat-interval=0.1", "--heartbeat-timeout=0.6", "--recovery-delay=0.2",
         "--fetch-delayed-delay=0.2", "--lost-job-max-tries=50", "--logger-level=ERROR",
         f"--execution-mode={mode}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def run_chaos(port: int, connection, mode: str) -> None:
    rng = random.Random(1234)
    jobs = [Job.add_job(identifier=f"chaos:{number}", queue_name="chaos") for number in range(JOBS)]
    workers = [start_worker(port, mode) for _ in range(WORKERS)]
    kills = 0
    deadline = time.monotonic() + 45
    try:
        while time.monotonic() < deadline:
            done = len(Job.collection(status=STATUSES.SUCCESS))
            if done == JOBS:
                break
            if kills < KILLS and done > kills * JOBS // (KILLS + 2):
                victim = rng.randrange(WORKERS)
                os.kill(workers[victim].pid, signal.SIGKILL)
                workers[victim].wait(10)
                workers[victim] = start_worker(port, mode)
                kills += 1
            time.sleep(rng.uniform(0.02, 0.1))  # the chaos cadence itself, not a wait for an event
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)

    statuses = collections.Counter(job.status.hget() for job in jobs)
    executions = collections.Counter(entry.split(":")[1] for entry in connection.lrange("executions", 0, -1))
    reruns = sum(count - 1 for count in executions.values())
    recovered = sum(1 for job in jobs if int(job.tries.hget() or 0) > 1)
    print(f"\n[{mode}] {kills} workers killed, {recovered} jobs recovered and run again, "
          f"{reruns} callbacks re-executed after completing, statuses {dict(statuses)}")
    assert kills == KILLS
    assert statuses == {STATUSES.SUCCESS: JOBS}, "every job ends in SUCCESS"
    assert len(executions) == JOBS, "every job ran"
    assert all(job.queued.hget() is None for job in jobs), "none is left queued"
    assert Queue.count_waiting_jobs("chaos") == 0


def test_chaos_inprocess_workers(redis_server, connection):
    run_chaos(redis_server.port, connection, "inprocess")


def test_chaos_prefork_workers(redis_server, connection):
    run_chaos(redis_server.port, connection, "prefork")
