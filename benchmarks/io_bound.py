"""I/O-bound jobs, many in flight in one worker process: limpyd-jobs' --concurrency against arq
(``max_jobs``), saq (``concurrency``), BullMQ (``concurrency``) and dramatiq (threads), in one run.

    .venv/bin/python benchmarks/io_bound.py              # N = 1, 10, 100, 500
    .venv/bin/python benchmarks/io_bound.py --only ours --concurrency 100
    .venv/bin/python benchmarks/io_bound.py --baseline=main  # and our rows as of that revision

Each job waits 50 ms: ``await asyncio.sleep(0.05)`` (async), or ``time.sleep(0.05)`` (sync: our
threads, dramatiq's). One worker process per measure, on a private redis-server; the queue is
filled first, then the time runs from the first job done to the queue drained (as run.py does).
Jobs: 5,000, but N x 40 (at least 200) when fewer would take long: 5,000 jobs at N = 1 are 250 s.
Columns: jobs/s; the share of the ideal N / 0.05 s; the worker's peak RSS (its process and
children, sampled every 10 ms); memory per in-flight job = (peak RSS at N=500 - at N=1) / 499.
Peers are installed from PyPI into benchmarks/.venvs/ on first use (run.py's ``python_for``).
Nothing is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from run import OURS_QUEUES, SYSTEMS, Server, System, Workers, add_baseline, python_for, run_driver

from limpyd_jobs.testing.server import RedisServer

WAIT = 0.05
#: name -> (system, the kind of job it runs)
PEERS: dict[str, tuple[System, str]] = {
    "limpyd-jobs async": (System("io_ours.py", options={"kind": "async"}, queues=OURS_QUEUES), "async"),
    "limpyd-jobs threads": (System("io_ours.py", options={"kind": "sync"}, queues=OURS_QUEUES), "sync"),
    "arq": (System("io_arq.py", ["arq==0.28.0", "hiredis"], venv="arq", queues=(("arq:queue", "zcard"),)),
            "async"),
    "saq": (System("io_saq.py", ["saq[redis]==0.26.4", "typing_extensions", "hiredis"], venv="saq",
                   queues=(("saq:default:incomplete", "zcard"),)), "async"),
    "bullmq": (System("io_bullmq.py", ["bullmq==3.4.4", "hiredis"], venv="bullmq",
                      queues=(("bull:bench:wait", "llen"), ("bull:bench:active", "llen"))), "async"),
    "dramatiq threads": (System("io_dramatiq.py", ["dramatiq[redis]==1.18.0", "hiredis"], venv="dramatiq",
                                pool=True, queues=(("dramatiq:bench.msgs", "hlen"),)), "sync"),
}


def jobs_for(concurrency: int, total: int) -> int:
    return min(total, max(200, concurrency * 40))


def rss(pid: int) -> int:
    """Resident bytes of a process and its descendants."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def measure(server: Server, name: str, concurrency: int, jobs: int) -> dict:
    """Fill, start one worker process, time the drain; its peak RSS along."""
    SYSTEMS[name].options["concurrency"] = concurrency
    server.reset()
    run_driver(name, "fill", server.port, jobs)
    server.find_queues(SYSTEMS[name].queues)
    pool = Workers(name, server.port, jobs, 1)
    peak = 0
    try:
        deadline = time.monotonic() + 600
        while (left := server.pending()) >= jobs:
            pool.check()
            peak = max(peak, sum(rss(process.pid) for process in pool.processes))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: no job done in 600 s")
            time.sleep(0.002)
        start = time.perf_counter()
        while server.pending():
            pool.check()
            peak = max(peak, sum(rss(process.pid) for process in pool.processes))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: the queue was not drained in 600 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
    finally:
        pool.stop()
    rate = left / elapsed
    return {"rate": rate, "ideal": rate / (concurrency / WAIT), "rss": peak, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=[], help="systems whose name starts so")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 10, 100, 500])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--baseline", help="also measure limpyd-jobs as of this git revision")
    args = parser.parse_args()
    if args.baseline:  # its files as run.py installs them, the I/O driver of this tree
        base = SYSTEMS.pop(add_baseline(args.baseline))
        for kind in ("async", "sync"):  # a venv of its own: run.py's may be reinstalled meanwhile
            PEERS[f"{base.venv} {kind}"] = (System("io_ours.py", base.requirements, venv=f"{base.venv}-io",
                                                   options={"kind": kind}, queues=OURS_QUEUES), kind)
    names = [name for name in PEERS if not args.only or any(name.startswith(only) for only in args.only)]
    for name in names:
        SYSTEMS[name] = PEERS[name][0]
        python_for(name)
    results: dict[str, dict[int, dict]] = {}
    with RedisServer() as redis_server:
        server = Server(redis_server)
        for concurrency in args.concurrency:
            for name in names:
                result = measure(server, name, concurrency, jobs_for(concurrency, args.jobs))
                results.setdefault(name, {})[concurrency] = result
                print(f"# {name} N={concurrency}: {result['jobs']} jobs, {result['rate']:.0f} jobs/s "
                      f"({result['ideal']:.0%} of ideal), peak RSS {result['rss'] / 2**20:.1f} MiB",
                      flush=True)
    print("\n| system | job | " + " | ".join(f"N={n} jobs/s (of ideal)" for n in args.concurrency)
          + " | peak RSS at the largest N | memory per in-flight job |")
    print("|" + " --- |" * (len(args.concurrency) + 4))
    for name in names:
        row = results[name]
        cells = [f"{row[n]['rate']:.0f} ({row[n]['ideal']:.0%})" for n in args.concurrency]
        low, high = min(args.concurrency), max(args.concurrency)
        per_job = ((row[high]["rss"] - row[low]["rss"]) / (high - low) / 1024) if high > low else 0
        print(f"| {name} | {PEERS[name][1]} | " + " | ".join(cells)
              + f" | {row[high]['rss'] / 2**20:.1f} MiB | {per_job:.1f} KiB |")


if __name__ == "__main__":
    main()
