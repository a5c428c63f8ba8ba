"""A long run: whether Redis memory and the workers' memory stay flat over many jobs.

    .venv/bin/python benchmarks/soak.py                    # 1,000,000 jobs per pass
    .venv/bin/python benchmarks/soak.py --jobs 200000 --every 50000

A private redis-server, then two passes of ``--jobs`` jobs, each through two ``limpyd-jobs-worker``
processes on their default options: without ``--prefetch``, then with ``--prefetch=8``. A producer
keeps about ``--backlog`` jobs waiting. Every ``--every`` jobs finished it prints Redis
``used_memory``, the lists' lengths and each worker's RSS; at the end of a pass, once retention
caught up, memory against the baseline (empty queue) and the kept finished jobs. Then the bytes of
Redis per waiting, running and kept finished job, measured on 10,000 jobs each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from limpyd_jobs import Job, Queue  # noqa: E402
from limpyd_jobs.models import BaseJobsModel  # noqa: E402
from limpyd_jobs.protocol.scripts import take_many  # noqa: E402
from limpyd_jobs.testing.server import RedisServer  # noqa: E402
from limpyd_jobs.utils import stored  # noqa: E402

QUEUE = "soak"
CHUNK = 1000  # jobs added per call
MB = 2**20


def start_worker(port: int, options: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", f"--queues={QUEUE}",
         "--callback=ours.read_identifier", f"--pythonpath={ROOT / 'drivers'}",
         f"--database=127.0.0.1:{port}:0", "--logger-level=WARNING", "--max-loops=0", "--no-title",
         *options],
        cwd=ROOT.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rss(process: subprocess.Popen) -> int:
    """Resident memory of a process, in bytes (Linux)."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def used_memory(client) -> int:
    return client.info("memory")["used_memory"]


def settle(client, seconds: float = 1.0) -> int:
    """used_memory once Redis freed what it frees lazily (a short quiet time, then the reading)."""
    time.sleep(seconds)
    return used_memory(client)


def soak(client, port: int, jobs: int, every: int, backlog: int, options: list[str], label: str) -> None:
    """One pass: ``jobs`` jobs through two workers, figures every ``every`` jobs finished."""
    queue = Queue.get_queue(QUEUE)
    keys = queue.waiting.key, queue.success.key
    baseline = settle(client)
    workers = [start_worker(port, options) for _ in range(2)]
    print(f"\n[{label}] {jobs} jobs, 2 workers ({' '.join(options) or 'default options'}); "
          f"used_memory at start {baseline / MB:.1f} MB", flush=True)
    started, added, next_report, first_rss = time.monotonic(), 0, every, None
    try:
        while True:
            waiting = client.llen(keys[0])
            finished = added - waiting  # taken or done; close enough at these volumes
            if added < jobs and waiting < backlog:
                count = min(CHUNK, jobs - added)
                Job.add_jobs([f"{label}:{added + n}" for n in range(count)], QUEUE)
                added += count
                continue
            if finished >= next_report or (added == jobs and waiting == 0):
                sizes = [rss(worker) for worker in workers]
                first_rss = first_rss or sizes
                elapsed = time.monotonic() - started
                print(f"{finished:9d} jobs  {elapsed:6.0f} s  {finished / elapsed:6.0f} jobs/s  "
                      f"used_memory {used_memory(client) / MB:7.1f} MB  waiting {waiting:6d}  "
                      f"success list {client.llen(keys[1]):6d}  worker RSS "
                      + ", ".join(f"{size / MB:.1f} MB" for size in sizes), flush=True)
                next_report += every
                if added == jobs and waiting == 0:
                    break
            time.sleep(0.05)
        time.sleep(2)  # the last jobs end; a worker out of jobs purges what it has not purged
        end = settle(client, 5)
        sizes = [rss(worker) for worker in workers]
        kept = client.llen(keys[1])
        growth = ", ".join(f"{(after - before) / before * 100:+.1f}%"
                           for before, after in zip(first_rss, sizes, strict=True))
        print(f"[{label}] after the pass: used_memory {end / MB:.1f} MB (start {baseline / MB:.1f} MB, "
              f"{(end - baseline) / MB:+.1f} MB) with {kept} finished jobs kept; worker RSS since the "
              f"first report {growth}", flush=True)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)


def per_job(client, port: int, count: int = 10000) -> None:
    """Bytes of Redis per waiting, running and kept finished job (``count`` of each)."""
    client.flushdb()
    queue = Queue.get_queue(QUEUE)
    before = settle(client)
    Job.add_jobs([f"waiting:{n}" for n in range(count)], QUEUE)
    waiting = settle(client)
    now_str, now_score = stored(BaseJobsModel.clock.now())
    for _ in range(count // 100):
        take_many.call(BaseJobsModel.database, [queue.waiting.key], worker="soak-measure", now_str=now_str,
                       now_score=now_score, want_counts=False, pass_on=False, count=100, delayed_keys=[])
    running = settle(client)
    client.flushdb()
    queue = Queue.get_queue(QUEUE)
    empty = settle(client)
    Job.add_jobs([f"done:{n}" for n in range(count)], QUEUE)
    worker = start_worker(port, [f"--keep-finished={count}"])
    try:
        while client.llen(queue.success.key) < count:
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(30)
    finished = settle(client)
    print(f"\nbytes of Redis per job ({count} of each): waiting {(waiting - before) / count:.0f}, "
          f"running {(running - before) / count:.0f}, kept finished {(finished - empty) / count:.0f}",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs per pass")
    parser.add_argument("--every", type=int, default=50_000, help="jobs between two reports")
    parser.add_argument("--backlog", type=int, default=20_000, help="jobs the producer keeps waiting")
    parser.add_argument("--passes", default="plain,prefetch", help="plain, prefetch, or both")
    args = parser.parse_args()
    with RedisServer() as server:
        BaseJobsModel.database.reset(host="127.0.0.1", port=server.port, db=0)
        client = server.client()
        Queue.get_queue(QUEUE)
        passes = {"plain": [], "prefetch": ["--prefetch=8"]}
        for name in args.passes.split(","):
            soak(client, server.port, args.jobs, args.every, args.backlog, passes[name], name)
        per_job(client, server.port)


if __name__ == "__main__":
    main()
