"""Clocks that disagree: workers whose hosts are 90 s behind and 90 s ahead (libfaketime) beside
one on time, all running long jobs and recovering each other's. Liveness and due times are
decided with Redis's clock, so nothing is taken from a live worker, nothing runs twice, and a
delayed job waits its delay by Redis's clock whatever the clock of the worker that moves it."""

from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from chaos import _command, stop
from helpers import TESTS_DIR

from limpyd_jobs import STATUSES, Job
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.utils import to_utc

QUEUE = "skew"
SKEWS = ("-90s", None, "+90s")
OPTIONS = ["--max-loops=100000", "--timeout=0.2", "--no-title", "--heartbeat-interval=0.3",
           "--heartbeat-timeout=3", "--recovery-delay=0.2", "--fetch-delayed-delay=0.2",
           "--logger-level=WARNING"]

#: libfaketime, preloaded into the worker itself (``faketime`` would run it as a child of its own,
#: which a signal to the process started does not reach).
FOLDERS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib")
LIBFAKETIME = next((str(path) for folder in FOLDERS
                    for path in [Path(folder) / "faketime" / "libfaketime.so.1"] if path.exists()), None)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(LIBFAKETIME is None, reason="needs libfaketime (Debian's faketime)")]


def skewed(skew: str) -> dict[str, str]:
    """The environment of a process whose clock is off by ``skew`` (time.time(), datetime.now()),
    but not its monotonic clock (libfaketime makes timed waits hang or fail with it)."""
    return {**os.environ, "LD_PRELOAD": LIBFAKETIME, "FAKETIME": skew, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def long_work(job, queue):
    """Note the run, when it started by Redis's clock and in which process, then work 1.5 s."""
    connection = job.get_connection()
    seconds, microseconds = connection.time()
    connection.rpush("runs", f"{job.identifier.hget()}|{os.getpid()}|{seconds + microseconds / 1e6}")
    threading.Event().wait(1.5)  # not time.sleep: libfaketime makes its absolute monotonic wait fail


def _worker(skew: str | None, log: Path) -> subprocess.Popen:
    command = [*_command("limpyd-jobs-worker"), f"--queues={QUEUE}",
               "--callback=system.test_clock_skew.long_work", f"--pythonpath={TESTS_DIR}", *OPTIONS]
    environment = skewed(skew) if skew else dict(os.environ)
    with log.open("a") as output:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=output, env=environment)


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_skewed_clocks_take_nothing_from_live_workers(connection, tmp_path):
    logs = [tmp_path / f"worker{skew or ''}.log" for skew in SKEWS]
    workers = [_worker(skew, log) for skew, log in zip(SKEWS, logs, strict=True)]
    try:
        assert _wait(lambda: connection.zcard(KEYS.workers()) == 3, 30), "the workers did not register"
        seconds, microseconds = connection.time()
        added_at = seconds + microseconds / 1e6
        # the clocks are off indeed: each worker wrote when it started, by its own clock
        offsets = sorted(round((to_utc(connection.hget(KEYS.worker(worker=worker), "started")).timestamp()
                                - added_at) / 30) * 30 for worker in connection.zrange(KEYS.workers(), 0, -1))
        assert offsets == [-90, 0, 90]
        delayed = Job.add_job(identifier="delayed", queue_name=QUEUE, delayed_for=4)
        jobs = Job.add_jobs([f"long:{number}" for number in range(15)], queue_name=QUEUE)
        everything = [*jobs, delayed]
        # each worker recovers the others' jobs every 0.2 s while 16 jobs of 1.5 s run (~8 s)
        assert _wait(lambda: all(job.status.hget() == STATUSES.SUCCESS for job in everything), 60), \
            "the jobs did not all end"
        runs = [run.split("|") for run in connection.lrange("runs", 0, -1)]
        counts = collections.Counter(identifier for identifier, _, _ in runs)
        assert [identifier for identifier, count in counts.items() if count > 1] == []  # none ran twice
        assert len(counts) == 16
        # each of the three ran some: the skewed ones were not kept out (nor their jobs taken)
        registered = {connection.hget(KEYS.worker(worker=worker), "pid")
                      for worker in connection.zrange(KEYS.workers(), 0, -1)}
        pids = {worker.pid for worker in workers}
        assert {int(pid) for _, pid, _ in runs} == {int(pid) for pid in registered} == pids
        metrics = [connection.hget(KEYS.metrics(queue=key), "recovered")
                   for key in {job.queue_key.hget() for job in everything}]
        assert [value for value in metrics if value not in (None, "0")] == []  # nothing recovered
        delayed_start = next(float(at) for identifier, _, at in runs if identifier == "delayed")
        assert delayed_start >= added_at + 4  # by Redis's clock, even if the +90 s worker moved it
        assert connection.zcard(KEYS.workers()) == 3  # none was declared dead
        assert [worker.pid for worker in workers if worker.poll() is not None] == []
        assert "declared dead" not in "".join(log.read_text() for log in logs)
    finally:
        stop(workers)


@pytest.mark.parametrize("skew", ["-90s", "+90s"])
def test_delayed_for_counts_from_redis_time_on_a_skewed_host(connection, skew):
    """A producer whose clock is off adds a job delayed by 30 s: it is due 30 s after Redis's now."""
    import sys

    script = ("from limpyd_jobs import Job; "
              "Job.add_job(identifier='later', queue_name='skew', delayed_for=30)")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, env=skewed(skew))
    seconds, microseconds = connection.time()
    job = Job.collection(identifier="later").instances()[0]
    due = connection.zscore(f"{job.queue_key.hget()}:delayed", job.ident)
    assert abs(due - (seconds + microseconds / 1e6 + 30)) < 5  # not 90 s off
