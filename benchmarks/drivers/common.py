"""Shared by the drivers: argument parsing and reporting. Runs in every benchmark venv."""

import argparse
import json
import sys
import time


def parse(scenarios):
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=scenarios)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--mode", default="inprocess", help="limpyd-jobs' execution mode")
    parser.add_argument("--threads", type=int, default=0, help="dramatiq: threads a process (0: its default)")
    parser.add_argument("--prefetch", type=int, default=0, help="jobs a worker takes ahead (0: its default)")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs in flight in one worker process")
    parser.add_argument("--kind", default="async", help="I/O-bound jobs: async (asyncio.sleep) or sync")
    return parser.parse_args()


def identifiers(count):
    """What each job works on: the job reads it (from Redis, or from its message)."""
    return [f"job:{number}" for number in range(count)]


def report(**values):
    sys.stdout.write(json.dumps(values) + "\n")
    sys.stdout.flush()


def timed(function, *args):
    """Run and report the wall-clock and CPU seconds the call took in this process."""
    start, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}
