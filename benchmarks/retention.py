"""Whether the retention of finished jobs keeps up with a sustained producer.

    .venv/bin/python benchmarks/retention.py                 # 90 s of production, then a minute
    .venv/bin/python benchmarks/retention.py --seconds 20 --after 10

It starts a private redis-server and one ``limpyd-jobs-worker`` on its default options (a job
that reads its identifier), then adds ``--rate`` jobs a second for ``--seconds`` seconds. Every
10 s it prints the success list's length, the jobs waiting, Redis ``used_memory`` and the Redis
CPU spent per finished job; then the same figures ``--after`` seconds after the producer stopped.
Nothing is asserted: figures are printed (tests/test_retention.py asserts a shorter run).
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
from limpyd_jobs.testing.server import RedisServer  # noqa: E402

QUEUE = "retention"
CHUNK = 50  # jobs added per call: the producer adds CHUNK jobs every CHUNK / rate seconds


def start_worker(port: int, options: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", f"--queues={QUEUE}",
         "--callback=ours.read_identifier", f"--pythonpath={ROOT / 'drivers'}",
         f"--database=127.0.0.1:{port}:0", "--logger-level=WARNING",
         "--max-loops=0", *options],
        cwd=ROOT.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Probe:
    """Reads the figures printed: list lengths, memory, Redis CPU and script time per finished job."""

    def __init__(self, client) -> None:
        self.client = client
        self.start_cpu, self.start_script = self.cpu(), self.script_usec()

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return info["used_cpu_user"] + info["used_cpu_sys"]

    def script_usec(self) -> int:
        stats = self.client.info("commandstats")
        return sum(stats.get(name, {}).get("usec", 0) for name in ("cmdstat_evalsha", "cmdstat_eval"))

    def line(self, elapsed: float, added: int) -> str:
        queue = Queue.get_queue(QUEUE)
        success, errors, waiting = (self.client.llen(key) for key in (queue.success.key, queue.errors.key,
                                                                       queue.waiting.key))
        finished = added - waiting
        memory = self.client.info("memory")["used_memory"]
        per_job = (self.cpu() - self.start_cpu) / max(finished, 1) * 1e6
        scripts = (self.script_usec() - self.start_script) / max(finished, 1)
        return (f"{elapsed:6.0f} s  added {added:7d}  waiting {waiting:6d}  success list {success:7d}  "
                f"errors list {errors:5d}  used_memory {memory / 2**20:7.1f} MB  "
                f"Redis CPU {per_job:5.1f} us/job (scripts {scripts:5.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90, help="how long the producer adds")
    parser.add_argument("--rate", type=float, default=1000, help="jobs added per second")
    parser.add_argument("--after", type=float, default=60, help="seconds watched after the producer stops")
    parser.add_argument("worker_options", nargs="*", help="more options for the worker (after --)")
    args = parser.parse_args()
    with RedisServer() as server:
        BaseJobsModel.database.reset(host="127.0.0.1", port=server.port, db=0)
        client = server.client()
        Job.add_job(identifier="warm-up", queue_name=QUEUE)
        worker = start_worker(server.port, args.worker_options)
        try:
            while client.llen(Queue.get_queue(QUEUE).waiting.key):
                time.sleep(0.1)
            time.sleep(1)
            baseline = client.info("memory")["used_memory"]
            probe = Probe(client)
            print(f"used_memory before: {baseline / 2**20:.1f} MB; producer at {args.rate:.0f} jobs/s "
                  f"for {args.seconds:.0f} s; worker options: {' '.join(args.worker_options) or 'defaults'}",
                  flush=True)
            start, added, report = time.monotonic(), 0, 10.0
            while (elapsed := time.monotonic() - start) < args.seconds:
                due = int(elapsed * args.rate)
                if added < due:
                    count = min(due - added, 10 * CHUNK)
                    Job.add_jobs([f"job:{added + n}" for n in range(count)], QUEUE)
                    added += count
                if elapsed >= report:
                    print(probe.line(elapsed, added), flush=True)
                    report += 10
                time.sleep(CHUNK / args.rate)
            print(probe.line(time.monotonic() - start, added), flush=True)
            print(f"producer stopped after {added} jobs", flush=True)
            stopped = time.monotonic()
            while (elapsed := time.monotonic() - stopped) < args.after:
                time.sleep(min(10, args.after - elapsed))
                print("after", probe.line(time.monotonic() - stopped, added), flush=True)
            print(f"used_memory after: {client.info('memory')['used_memory'] / 2**20:.1f} MB "
                  f"(before: {baseline / 2**20:.1f} MB)", flush=True)
        finally:
            worker.terminate()
            worker.wait(30)


if __name__ == "__main__":
    main()
