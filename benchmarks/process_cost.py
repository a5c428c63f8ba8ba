"""What processing a job costs: Redis commands, Redis CPU and client CPU per job, one worker.

    .venv/bin/python benchmarks/process_cost.py                      # 10,000 jobs, 3 runs
    .venv/bin/python benchmarks/process_cost.py --prefetch 16 --profile 25

A private Redis; each run fills ``--jobs`` jobs in bulk, then one worker of this process (its
defaults, or ``--prefetch``) runs them, each reading its identifier as the benchmark's job does.
Redis figures are deltas of ``INFO commandstats`` (every command, those scripts run included) and
``INFO cpu``, with the median time of a script's call (SLOWLOG, robust to this host's
preemptions); client CPU is this process's. ``--profile N`` prints cProfile's top N functions.
``--baseline REV`` runs the package of a git revision too, each run in a child process of either
tree in turn (each one first in turn), against the same Redis; medians per tree.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if "--child" not in sys.argv:
    sys.path.insert(0, str(ROOT))

from add_cost import tree_of  # noqa: E402  (a sibling script: the package at a revision)

from limpyd_jobs import Job, Worker  # noqa: E402
from limpyd_jobs.models import BaseJobsModel  # noqa: E402
from limpyd_jobs.testing.server import RedisServer  # noqa: E402

QUEUE = "cost"


def read_identifier(job: Job, queue: object) -> None:
    """The job: reads what it works on, as benchmarks/run.py's does."""
    len(job.identifier.hget())


def redis_state(client: object) -> tuple[Counter, Counter, float]:
    """(calls, µs) per command name, and the server's CPU seconds."""
    calls: Counter = Counter()
    usec: Counter = Counter()
    for name, stats in client.info("commandstats").items():
        calls[name.removeprefix("cmdstat_")] = stats["calls"]
        usec[name.removeprefix("cmdstat_")] = stats["usec"]
    cpu = client.info("cpu")
    return calls, usec, cpu["used_cpu_user"] + cpu["used_cpu_sys"]


def one_run(client: object, jobs: int, prefetch: int, profile: cProfile.Profile | None) -> dict:
    """Fill ``jobs`` jobs, run them with one worker; the costs per job."""
    client.flushall()
    Job.add_jobs([f"job:{number}" for number in range(jobs)], QUEUE)
    worker = Worker(QUEUE, callback=read_identifier, max_loops=jobs, timeout=0.05, logger_level="WARNING",
                    terminate_gracefuly=False, prefetch=prefetch)
    client.config_set("slowlog-log-slower-than", 0)  # every call timed: the scripts' median
    client.config_set("slowlog-max-len", jobs * 30)
    client.slowlog_reset()
    calls, usec, cpu = redis_state(client)
    started, client_cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    worker.run()
    if profile is not None:
        profile.disable()
    elapsed, client_used = time.perf_counter() - started, time.process_time() - client_cpu
    calls_after, usec_after, cpu_after = redis_state(client)
    scripts = [entry["duration"] for entry in client.slowlog_get(jobs * 30)
               if str(entry["command"]).startswith(("EVALSHA", "b'EVALSHA"))]
    client.config_set("slowlog-log-slower-than", 10000)
    calls_after["info"] -= 2  # this script's own
    return {"rate": jobs / elapsed, "redis_cpu": (cpu_after - cpu) * 1e6 / jobs,
            "client_cpu": client_used * 1e6 / jobs,
            "calls": {name: (calls_after[name] - calls[name]) / jobs for name in calls_after},
            "usec": {name: (usec_after[name] - usec[name]) / jobs for name in usec_after},
            "script_median": statistics.median(scripts) if scripts else 0.0}


def child_run(tree: Path, port: int, jobs: int, prefetch: int) -> dict:
    """One run by the package of ``tree``, in a process of its own."""
    arguments = [sys.executable, __file__, "--child", str(port), "--jobs", str(jobs),
                 "--prefetch", str(prefetch)]
    output = subprocess.run(arguments, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree, check=True,
                            capture_output=True, text=True)
    return json.loads(output.stdout)


def report(title: str, runs: list[dict]) -> None:
    """Medians of the runs of one tree."""
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("rate", "redis_cpu", "client_cpu", "script_median")}
    names = sorted({name for run in runs for name, value in run["calls"].items() if value > 0.001})
    calls = {name: statistics.median(run["calls"].get(name, 0) for run in runs) for name in names}
    usec = {name: statistics.median(run["usec"].get(name, 0) for run in runs) for name in names}
    inner = sum(value for name, value in calls.items() if name not in ("evalsha", "eval"))
    per_call = usec.get("evalsha", 0) / calls["evalsha"] if calls.get("evalsha") else 0
    print(f"{title}{median['rate']:,.0f} jobs/s; per job: Redis commands {sum(calls.values()):.2f} "
          f"({inner:.2f} in scripts), Redis CPU {median['redis_cpu']:.1f} us "
          f"(scripts {usec.get('evalsha', 0):.1f} us by commandstats, {per_call:.1f} us per EVALSHA, median "
          f"{median['script_median']:.0f} us by SLOWLOG), "
          f"client CPU {median['client_cpu']:.1f} us")
    print("  command          calls/job   us/job (commandstats)")
    for name in sorted(names, key=lambda name: -usec[name]):
        print(f"  {name:<16} {calls[name]:9.3f} {usec[name]:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prefetch", type=int, default=1)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N")
    parser.add_argument("--baseline", help="a git revision to measure beside this tree, runs interleaved")
    parser.add_argument("--child", type=int, metavar="PORT", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        import redis

        BaseJobsModel.database.reset(host="127.0.0.1", port=options.child, db=0)
        client = redis.Redis(port=options.child, decode_responses=True)
        print(json.dumps(one_run(client, options.jobs, options.prefetch, None)))
        return
    if options.baseline:
        with tempfile.TemporaryDirectory() as temporary, RedisServer() as server:
            trees = {"this tree": ROOT, options.baseline: tree_of(options.baseline, Path(temporary))}
            load = os.getloadavg()[0]
            found: dict[str, list[dict]] = {name: [] for name in trees}
            for number in range(options.runs):
                for name in [*trees][number % 2:] + [*trees][:number % 2]:
                    found[name].append(child_run(trees[name], server.port, options.jobs, options.prefetch))
            print(f"{options.jobs} jobs, prefetch {options.prefetch}, medians of {options.runs}, "
                  f"load average {load:.1f} to {os.getloadavg()[0]:.1f}")
            for name, runs in found.items():
                report(f"{name}: ", runs)
        return
    profile = cProfile.Profile() if options.profile else None
    with RedisServer() as server:
        BaseJobsModel.database.reset(host="127.0.0.1", port=server.port, db=0)
        client = server.client(decode_responses=True)
        runs = [one_run(client, options.jobs, options.prefetch, profile) for _ in range(options.runs)]
    report(f"{options.jobs} jobs, prefetch {options.prefetch}, medians of {options.runs}: ", runs)
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(options.profile)


if __name__ == "__main__":
    main()
