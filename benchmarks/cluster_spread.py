"""How a cluster's masters share the work when job databases live under several hash tags.

    .venv/bin/python benchmarks/cluster_spread.py --groups 3 --jobs 3000

A private cluster (3 masters, each with a replica). ``--groups`` hash tags are chosen so that
each lands on another master (``{jobs-0}``, ``{jobs-4}``...); for each, one process adds
``--jobs`` jobs then processes them with one worker, all at once. Printed: each master's share
of the Redis CPU used, and the jobs per second of all groups together, against one group alone
(from the processes' start: their imports count).
(Sharding inside limpyd-jobs is not built: each group here is a deployment of its own.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from limpyd_jobs.testing.cluster import RedisClusterServers  # noqa: E402

GROUP = """
import sys, time
from limpyd_jobs import Job, Worker
jobs = int(sys.argv[1])
for number in range(jobs):
    Job.add_job(identifier=f"job:{number}", queue_name="spread")
Worker("spread", callback=lambda job, queue: None, max_loops=jobs, timeout=0.05,
       terminate_gracefuly=False).run()
"""


def cpu(node) -> float:
    info = node.client().info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def tags_on_distinct_masters(cluster: RedisClusterServers, count: int) -> list[str]:
    tags, masters = [], set()
    number = 0
    while len(tags) < count:
        tag = f"{{jobs-{number}}}"
        master = cluster.master_of(tag).port
        if master not in masters or len(masters) == cluster.masters:
            tags.append(tag)
            masters.add(master)
        number += 1
    return tags


def run(cluster: RedisClusterServers, tags: list[str], jobs: int) -> tuple[float, dict[int, float]]:
    """(jobs per second of all groups, Redis CPU seconds each master used)."""
    masters = {cluster.master_of(tag).port: cluster.master_of(tag) for tag in tags}
    before = {port: cpu(node) for port, node in masters.items()}
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "-c", GROUP, str(jobs)], cwd=ROOT,
                                  env={**os.environ, "LIMPYD_JOBS_PREFIX": tag, "REDIS_URL": cluster.url})
                 for tag in tags]
    for process in processes:
        process.wait()
    elapsed = time.perf_counter() - started
    return len(tags) * jobs / elapsed, {port: cpu(node) - before[port] for port, node in masters.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=3000)
    options = parser.parse_args()
    with RedisClusterServers() as cluster:
        tags = tags_on_distinct_masters(cluster, options.groups)
        alone, _ = run(cluster, tags[:1], options.jobs)
        together, used = run(cluster, tags, options.jobs)
        total = sum(used.values())
        shares = ", ".join(f"{port}: {seconds / total:.0%}" for port, seconds in sorted(used.items()))
        print(f"one group: {alone:.0f} jobs/s; {len(tags)} groups ({', '.join(tags)}): "
              f"{together:.0f} jobs/s; Redis CPU shares per master: {shares}")


if __name__ == "__main__":
    main()
