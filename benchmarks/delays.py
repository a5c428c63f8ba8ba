"""How on time a worker on its default options is: delayed jobs, retries, idle pickup, idle cost.

    .venv/bin/python benchmarks/delays.py            # about a minute and a half
    .venv/bin/python benchmarks/delays.py --quick    # about half a minute

It starts a private redis-server and one ``limpyd-jobs-worker`` (default options, a job that does
nothing), then measures, from the jobs' own ``delayed_until``, ``added`` and ``start`` fields:
- lateness of delayed jobs: ``start - delayed_until`` of jobs delayed by 1 to 4 seconds;
- lateness of retries: a job that fails once, retried after ``requeue_delay_delta`` (2 s here);
- idle pickup: ``start - added`` of jobs added one at a time to an idle worker;
- idle cost: Redis commands per second while the worker has nothing to do;
- where lateness would come from without the worker's own timer: how late Redis itself ends a
  BLPOP's timeout (it checks timeouts at its ``hz`` pace: up to 100 ms on its default hz 10).
Nothing is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from limpyd_jobs import STATUSES, Job  # noqa: E402
from limpyd_jobs.models import BaseJobsModel  # noqa: E402
from limpyd_jobs.testing.server import RedisServer  # noqa: E402
from limpyd_jobs.utils import str_to_datetime  # noqa: E402

WORKER = [sys.executable, "-m", "limpyd_jobs.cli.worker"]
CALLBACK = "ours.noop_failing_once"


def start_worker(port: int, *options: str) -> subprocess.Popen:
    return subprocess.Popen([*WORKER, "--queues=delays", f"--callback={CALLBACK}",
                             f"--pythonpath={ROOT / 'drivers'}", f"--database=127.0.0.1:{port}:0",
                             "--logger-level=WARNING", "--max-loops=0", *options],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(jobs: list[Job], status: str, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while any(job.status.hget() != status for job in jobs):
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs not {status} after {limit}s")
        time.sleep(0.05)


def seconds_between(job: Job, earlier: str, later: str) -> float:
    first, second = (str_to_datetime(value) for value in job.hmget(earlier, later))
    return (second - first).total_seconds()


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p50, p99 = statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
            f"(n={len(ordered)})")


def blpop_lateness(client, count: int) -> list[float]:
    """How late Redis ends the timeout of a BLPOP on an empty list (timeouts of 0.2 to 0.6 s)."""
    late = []
    for _ in range(count):
        seconds = round(random.uniform(0.2, 0.6), 3)
        start = time.perf_counter()
        client.blpop(["delays:nothing"], seconds)
        late.append(time.perf_counter() - start - seconds)
    return late


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    server = RedisServer().start()
    BaseJobsModel.database.reset(host="127.0.0.1", port=server.port, db=0)
    client = server.client()
    worker = start_worker(server.port, "--requeue-times=1", "--requeue-delay-delta=2")
    try:
        Job.add_job(identifier="warm-up", queue_name="delays")
        time.sleep(1)

        count = 10 if quick else 30
        delayed = [Job.add_job(identifier=f"delayed:{n}", queue_name="delays",
                               delayed_for=random.uniform(1, 4)) for n in range(count)]
        wait_for(delayed, STATUSES.SUCCESS)
        lateness = [seconds_between(job, "delayed_until", "start") for job in delayed]

        retried = [Job.add_job(identifier=f"fails-once:{n}", queue_name="delays")
                   for n in range(3 if quick else 10)]
        wait_for(retried, STATUSES.SUCCESS, limit=30)
        retry_lateness = [seconds_between(job, "delayed_until", "start") for job in retried]

        pickups = []
        for n in range(10 if quick else 30):
            time.sleep(random.uniform(0.05, 0.3))  # the worker is idle when the job comes
            job = Job.add_job(identifier=f"idle:{n}", queue_name="delays")
            wait_for([job], STATUSES.SUCCESS)
            pickups.append(seconds_between(job, "added", "start"))

        idle_seconds = 15 if quick else 60
        time.sleep(1)
        before = client.info("stats")["total_commands_processed"]
        time.sleep(idle_seconds)
        after = client.info("stats")["total_commands_processed"]
        idle = (after - before - 1) / idle_seconds
        hz = int(next(iter(client.config_get("hz").values())))
        redis_late = blpop_lateness(client, 10 if quick else 30)
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()

    print("One worker on its default options (requeue-delay-delta=2 for the retries):")
    print(f"- delayed jobs (1-4 s), lateness: {percentiles(lateness)}")
    print(f"- retries (2 s after the failure), lateness: {percentiles(retry_lateness)}")
    print(f"- idle pickup: {percentiles(pickups)}")
    print(f"- idle worker: {idle:.2f} Redis commands/s over {idle_seconds} s")
    print(f"- for comparison, Redis ending a BLPOP's own timeout (hz {hz}), lateness: "
          f"{percentiles(redis_late)}")


if __name__ == "__main__":
    main()
