"""What a Redis Cluster costs per job: Redis CPU and client CPU, on a cluster vs standalone.

    .venv/bin/python benchmarks/cluster_cost.py --jobs 5000 --runs 3

A private standalone Redis with a replica and a private cluster (3 masters, each with a replica)
on this host, prefix ``{jobs}``. Each run adds ``--jobs`` jobs one by one, then processes them in
this process (one worker; ``shards=3``: a third to a queue of each shard, a worker per shard in
turn). Redis CPU is the masters' ``used_cpu_user + used_cpu_sys`` (INFO cpu) less what they use
idle (the cluster bus), client CPU this process's. Runs alternate; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ["LIMPYD_JOBS_PREFIX"] = "{jobs}"  # read when limpyd-jobs is imported
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from limpyd_jobs import Job, Worker, shards  # noqa: E402
from limpyd_jobs.connection import settings_from_url  # noqa: E402
from limpyd_jobs.models import BaseJobsModel  # noqa: E402
from limpyd_jobs.testing.cluster import RedisClusterServers  # noqa: E402
from limpyd_jobs.testing.server import RedisServer  # noqa: E402

QUEUE = "cost"
#: Three queue names, one in each of three shards (crc32 modulo 3: 0, 1, 2).
SHARDED_QUEUES = ("cost-3", "cost-7", "cost-0")


def redis_cpu(server: RedisServer) -> float:
    info = server.client().info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def one_run(servers: list[RedisServer], url: str, jobs: int,
            queues: tuple[str, ...] = (QUEUE,)) -> tuple[float, float, float]:
    """(Redis CPU us per job, client CPU us per job, jobs per second) through ``url``, the jobs
    spread evenly over ``queues``; Redis CPU summed over ``servers``."""
    for server in servers:
        server.client().flushall()
    shards.configure(1, {})
    BaseJobsModel.database.reset(**settings_from_url(url))
    for queue in queues:
        Job.add_job(identifier="warm-up", queue_name=queue)
        Worker(queue, callback=lambda job, queue: None, max_loops=1, timeout=0.05,
               terminate_gracefuly=False).run()
    redis_before, client_before = sum(map(redis_cpu, servers)), time.process_time()
    started = time.perf_counter()
    for number in range(jobs):
        Job.add_job(identifier=f"job:{number}", queue_name=queues[number % len(queues)])
    for index, queue in enumerate(queues):
        Worker(queue, callback=lambda job, queue: None, max_loops=len(range(index, jobs, len(queues))),
               timeout=0.05, terminate_gracefuly=False).run()
    elapsed = time.perf_counter() - started
    assert all(server.client().dbsize() for server in servers), "a master holds no key"
    redis_used = sum(map(redis_cpu, servers)) - redis_before
    redis_used -= sum(idle_cpu(server) for server in servers) * elapsed
    client_used = time.process_time() - client_before
    return redis_used * 1e6 / jobs, client_used * 1e6 / jobs, jobs / elapsed


def idle_cpu(server: RedisServer, seconds: float = 1.0) -> float:
    """CPU seconds per second the server uses doing no command (a cluster's bus, replication)."""
    before = redis_cpu(server)
    time.sleep(seconds)
    return (redis_cpu(server) - before) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    results: dict[str, list[tuple[float, float, float]]] = {"standalone": [], "cluster": [], "shards=3": []}
    with RedisServer() as standalone, RedisClusterServers() as cluster, \
            RedisServer(arguments=["--replicaof", "127.0.0.1", str(standalone.port)]):
        time.sleep(1)  # the standalone replica's first sync done
        master = cluster.master_of("{jobs}")
        masters = list({node.port: node for node in map(cluster.master_of, ("{jobs-0}", "{jobs-1}",
                                                                          "{jobs-2}"))}.values())
        assert len(masters) == 3, "the three shards are not on three masters"
        for _ in range(options.runs):
            results["standalone"].append(one_run([standalone], standalone.url, options.jobs))
            results["cluster"].append(one_run([master], cluster.url, options.jobs))
            results["shards=3"].append(one_run(masters, cluster.url + "?shards=3", options.jobs,
                                               SHARDED_QUEUES))
    print(f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    for name, runs in results.items():
        redis_us, client_us, rate = (statistics.median(values) for values in zip(*runs, strict=True))
        print(f"{name:<11} Redis {redis_us:6.1f} us/job  client {client_us:6.1f} us/job  {rate:6.0f} jobs/s "
              "(add + process, one worker)")


if __name__ == "__main__":
    main()
