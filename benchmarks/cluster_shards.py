"""One deployment on a cluster, one shard against three: jobs per second and each master's share.

    .venv/bin/python benchmarks/cluster_shards.py --jobs 3000 --repeat 3

A private cluster (3 masters, each with a replica). ``--processes`` processes each add ``--jobs``
jobs to a queue of their own, then run them with one worker, all at once: first with one shard
(``LIMPYD_JOBS_PREFIX={jobs}``: every queue on one master), then with ``?shards=3`` (the queues
chosen one per shard: {jobs-0}, {jobs-1}, {jobs-2} are on three masters). Printed, medians of
``--repeat`` runs: jobs per second of all processes (from their start: imports count), and each
master's share of the Redis CPU used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from limpyd_jobs.testing.cluster import RedisClusterServers  # noqa: E402

GROUP = """
import sys
from limpyd_jobs import Job, Worker
jobs, queue = int(sys.argv[1]), sys.argv[2]
Job.add_jobs([f"job:{number}" for number in range(jobs)], queue_name=queue)
Worker(queue, callback=lambda job, queue: None, max_loops=jobs, timeout=0.05, terminate_gracefuly=False).run()
"""


def cpu(node) -> float:
    info = node.client().info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def queues(shards: int, count: int, run: int) -> list[str]:
    """``count`` queue names, new for each run, spread over the shards (crc32 modulo S)."""
    found: list[str] = []
    number = 0
    while len(found) < count:
        name = f"bench-{run}-{number}"
        if shards == 1 or zlib.crc32(name.encode()) % shards == len(found) % shards:
            found.append(name)
        number += 1
    return found


def run(cluster: RedisClusterServers, shards: int, processes: int, jobs: int,
        number: int) -> tuple[float, dict]:
    """(jobs per second of all processes, Redis CPU seconds of each master)."""
    masters = {node.port: node for node in cluster.live_nodes()
               if node.client(decode_responses=True).info("replication")["role"] == "master"}
    before = {port: cpu(node) for port, node in masters.items()}
    environment = {name: value for name, value in os.environ.items() if name != "LIMPYD_JOBS_PREFIX"}
    if shards == 1:
        environment.update(LIMPYD_JOBS_PREFIX="{jobs}", REDIS_URL=cluster.url)
    else:
        environment.update(REDIS_URL=f"{cluster.url}?shards={shards}")
    started = time.perf_counter()
    running = [subprocess.Popen([sys.executable, "-c", GROUP, str(jobs), queue], cwd=ROOT, env=environment)
               for queue in queues(shards, processes, number)]
    for process in running:
        if process.wait():
            raise SystemExit(f"a process failed ({process.returncode})")
    elapsed = time.perf_counter() - started
    return processes * jobs / elapsed, {port: cpu(node) - before[port] for port, node in masters.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with RedisClusterServers() as cluster:
        for shards in (1, 3):
            rates, shares = [], {}
            for number in range(options.repeat):
                rate, used = run(cluster, shards, options.processes, options.jobs, number + 10 * shards)
                rates.append(rate)
                total = sum(used.values()) or 1
                for port, seconds in used.items():
                    shares.setdefault(port, []).append(seconds / total)
            said = ", ".join(f"{statistics.median(values):.0%}" for _, values in sorted(shares.items()))
            print(f"shards={shards}: {statistics.median(rates):.0f} jobs/s (runs: "
                  f"{', '.join(f'{rate:.0f}' for rate in rates)}); Redis CPU share per master: {said}")


if __name__ == "__main__":
    main()
