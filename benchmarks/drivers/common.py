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
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--mode", default="inprocess")
    return parser.parse_args()


def report(**values):
    sys.stdout.write(json.dumps(values) + "\n")
    sys.stdout.flush()


def timed(function, *args):
    """Run and report the wall-clock and CPU seconds the call took in this process."""
    start, cpu = time.perf_counter(), time.process_time()
    function(*args)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}
