"""What ``?replicas=1`` costs: adds and processed jobs per second with and without it.

    .venv/bin/python benchmarks/replicas.py --jobs 5000 --runs 3

A private master and a replica on this host (loopback: the replica answers in microseconds; over
a network each acknowledged write waits about one round trip more). It adds ``--jobs`` jobs one
by one, then runs them through one ``limpyd-jobs-worker``, with the plain URL then with
``?replicas=1``, ``--runs`` times interleaved, and prints the medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from limpyd_jobs import Job, Queue  # noqa: E402
from limpyd_jobs.connection import settings_from_url  # noqa: E402
from limpyd_jobs.models import BaseJobsModel  # noqa: E402
from limpyd_jobs.testing.server import RedisServer  # noqa: E402

QUEUE = "replicas"
FAST_SYNC = ["--repl-diskless-sync-delay", "0"]


def one_run(master: RedisServer, url: str, jobs: int) -> tuple[float, float]:
    """(adds per second, jobs processed per second by one worker) through ``url``."""
    master.client().flushdb()
    BaseJobsModel.database.reset(**settings_from_url(url))
    Queue.get_queue(QUEUE)
    started = time.perf_counter()
    for number in range(jobs):
        Job.add_job(identifier=f"job:{number}", queue_name=QUEUE)
    adds = jobs / (time.perf_counter() - started)
    queue, client = Queue.get_queue(QUEUE), master.client()
    worker = subprocess.Popen(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", f"--queues={QUEUE}", "--no-title",
         "--callback=ours.read_identifier", f"--pythonpath={ROOT / 'drivers'}", f"--database={url}",
         "--logger-level=WARNING", f"--max-loops={jobs}", "--timeout=1"], cwd=ROOT.parent)
    while client.llen(queue.waiting.key) == jobs:  # from its first take (not its start-up)
        time.sleep(0.002)
    started = time.perf_counter()
    while client.llen(queue.success.key) < jobs:
        time.sleep(0.002)
    processed = jobs / (time.perf_counter() - started)
    worker.wait(30)
    return adds, processed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with RedisServer(arguments=FAST_SYNC) as master, \
            RedisServer(arguments=[*FAST_SYNC, "--replicaof", "127.0.0.1", str(master.port)]):
        while master.client().info("replication").get("slave0", {}).get("state") != "online":
            time.sleep(0.1)
        urls = {"plain": f"redis://127.0.0.1:{master.port}/0",
                "replicas=1": f"redis://127.0.0.1:{master.port}/0?replicas=1"}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in urls}
        for _ in range(args.runs):
            for name, url in urls.items():
                results[name].append(one_run(master, url, args.jobs))
        print(f"medians of {args.runs} runs, {args.jobs} jobs, replica on the same host")
        for name, runs in results.items():
            adds = statistics.median(run[0] for run in runs)
            processed = statistics.median(run[1] for run in runs)
            print(f"{name:12s} adds one by one {adds:7.0f}/s ({1e6 / adds:5.0f} us each)   "
                  f"processed by 1 worker {processed:7.0f}/s ({1e6 / processed:5.0f} us each)")


if __name__ == "__main__":
    main()
