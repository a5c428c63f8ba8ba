"""Benchmark limpyd-jobs against huey and redis-limpyd-jobs 2, side by side, in one run.

    .venv/bin/python benchmarks/run.py                    # full run (a few minutes)
    .venv/bin/python benchmarks/run.py --quick            # fewer jobs and runs
    .venv/bin/python benchmarks/run.py --baseline=HEAD~3  # this tree beside an earlier commit

It starts its own private redis-server, installs the peers from PyPI into virtual environments
of their own (benchmarks/.venvs/, on first use), runs each scenario several times with the same
no-op job and prints medians as Markdown tables. Nothing here is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DRIVERS = ROOT / "drivers"
VENVS = ROOT / ".venvs"
sys.path.insert(0, str(ROOT.parent))

from limpyd_jobs.testing.server import RedisServer  # noqa: E402

PEERS = {  # name -> (driver, pip requirements of its venv; None: this interpreter)
    "limpyd-jobs (this)": ("ours.py", None),
    "huey": ("huey_driver.py", ["huey==3.5.4", "redis", "hiredis"]),
    "redis-limpyd-jobs 2": ("limpyd_jobs2.py", ["redis-limpyd-jobs==2", "setuptools<81", "hiredis"]),
}
SLOW = {"redis-limpyd-jobs 2": 10}  # runs 10x fewer jobs: it is that much slower
FORK_DIVISOR = 20  # a fork per job is slow by nature: fewer jobs keep the run short


def add_baseline(revision: str) -> str:
    """Benchmark the limpyd-jobs of an earlier commit as one more system: its files (``git
    archive``) are installed into a venv of their own. Returns the system's name."""
    commit = subprocess.run(["git", "rev-parse", "--short", revision], capture_output=True, text=True,
                            check=True, cwd=ROOT.parent).stdout.strip()
    source = VENVS / f"source-{commit}"
    if not source.exists():
        source.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", commit], capture_output=True, check=True,
                                 cwd=ROOT.parent).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    name = f"limpyd-jobs ({commit})"
    PEERS[name] = ("ours.py", [str(source)])
    return name


def python_for(name: str) -> str:
    requirements = PEERS[name][1]
    if requirements is None:
        return sys.executable
    venv = VENVS / re.sub(r"[^\w.-]+", "-", name).strip("-")
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"# installing {', '.join(requirements)} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    return str(python)


class Server:
    """The private Redis, with the readings the benchmark needs."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.client = server.client(decode_responses=True)

    def reset(self) -> None:
        self.client.flushall()
        self.client.config_resetstat()

    def snapshot(self) -> dict[str, float]:
        info = self.client.info()
        calls = sum(value["calls"] for key, value in self.client.info("commandstats").items())
        return {"calls": calls, "cpu": info["used_cpu_user"] + info["used_cpu_sys"],
                "memory": info["used_memory"], "processed": info["total_commands_processed"]}

    def find_queues(self) -> None:
        """Remember the waiting lists that exist now (after a fill): polling must be cheap."""
        self.queues = self.client.keys("*:waiting") + self.client.keys("huey.redis.*")

    def pending(self) -> int:
        with self.client.pipeline(transaction=False) as pipe:
            for key in self.queues:
                pipe.llen(key)
            return sum(pipe.execute())


def driver(name: str, scenario: str, port: int, jobs: int, **options: object) -> list[str]:
    command = [python_for(name), str(DRIVERS / PEERS[name][0]), scenario, f"--port={port}",
               f"--jobs={jobs}"]
    return command + [f"--{key}={value}" for key, value in options.items()]


def run_driver(name: str, scenario: str, port: int, jobs: int) -> dict:
    result = subprocess.run(driver(name, scenario, port, jobs), capture_output=True, text=True,
                            timeout=600, cwd=DRIVERS)
    if result.returncode:
        raise RuntimeError(f"{name} {scenario} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def process_cpu(pid: int) -> float:
    """CPU seconds of a process, its reaped children, and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = sum(int(value) for value in fields[11:15]) / ticks  # utime stime cutime cstime
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += process_cpu(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def measure_enqueue(server: Server, name: str, scenario: str, jobs: int) -> dict:
    server.reset()
    before = server.snapshot()
    result = run_driver(name, scenario, server.server.port, jobs)
    after = server.snapshot()
    return {"rate": jobs / result["seconds"], "client_cpu": result["cpu"] / jobs,
            "redis_cpu": (after["cpu"] - before["cpu"]) / jobs,
            "commands": (after["calls"] - before["calls"]) / jobs}


def measure_processing(server: Server, name: str, jobs: int, workers: int, mode: str) -> dict:
    server.reset()
    empty = server.snapshot()["memory"]
    run_driver(name, "fill", server.server.port, jobs)
    server.find_queues()
    count = 1 if name == "huey" else workers  # one huey consumer runs `workers` processes
    processes = [subprocess.Popen(driver(name, "work", server.server.port, jobs, workers=workers, mode=mode),
                                  cwd=DRIVERS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(count)]
    polls = 0
    try:
        deadline = time.monotonic() + 600
        while server.pending() >= jobs and time.monotonic() < deadline:  # wait for the first take
            polls += 1
            time.sleep(0.001)
        start, left, before = time.perf_counter(), server.pending(), server.snapshot()
        cpu_before = sum(process_cpu(process.pid) for process in processes)
        while server.pending() and time.monotonic() < deadline:
            polls += 1
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
        after = server.snapshot()
        cpu_after = sum(process_cpu(process.pid) for process in processes)
    finally:
        stop(processes)
    done = max(left, 1)
    return {"rate": done / elapsed, "client_cpu": (cpu_after - cpu_before) / done,
            "redis_cpu": (after["cpu"] - before["cpu"]) / done,
            "commands": (after["calls"] - before["calls"] - len(server.queues) * polls) / done,
            "memory_100k": (server.snapshot()["memory"] - empty) / jobs * 100_000}


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class Monitor:
    """Collects the commands clients send (not those scripts run) while the block runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.commands: list[dict] = []

    def _watch(self) -> None:
        with self.server.server.client(decode_responses=True).monitor() as monitor:
            self.ready.set()
            for command in monitor.listen():
                if command["command"] == "ECHO monitor-stop":
                    return
                if command["client_type"] != "lua":
                    self.commands.append(command)

    def __enter__(self) -> "Monitor":
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.client.echo("monitor-stop")
        self.thread.join(60)


HANDSHAKE = ("HELLO", "CLIENT", "SELECT", "INFO", "PING")


def measure_round_trips(server: Server, name: str, jobs: int) -> dict:
    """Client commands per job (not counting those scripts run), read with MONITOR."""
    own_port = server.client.client_info()["addr"].rsplit(":", 1)[1]
    counts = {}
    for scenario in ("enqueue_one", "process"):
        server.reset()
        if scenario == "process":
            run_driver(name, "fill", server.server.port, jobs)
            server.find_queues()
        with Monitor(server) as monitor:
            if scenario == "enqueue_one":
                run_driver(name, "enqueue_one", server.server.port, jobs)
            else:
                worker = subprocess.Popen(driver(name, "work", server.server.port, jobs, workers=1),
                                          cwd=DRIVERS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 300
                while server.pending() and time.monotonic() < deadline:
                    time.sleep(0.01)
                stop([worker])
        counted = [command for command in monitor.commands if command["client_port"] != own_port
                   and not command["command"].upper().startswith(HANDSHAKE)]
        counts[scenario] = len(counted) / jobs
    return counts


def measure_idle(server: Server, name: str, seconds: float = 5.0) -> float:
    """Redis commands per second caused by one worker with nothing to do."""
    server.reset()
    process = subprocess.Popen(driver(name, "work", server.server.port, 0, workers=1), cwd=DRIVERS,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)  # let it start and settle
        before = server.client.info("stats")["total_commands_processed"]
        time.sleep(seconds)
        after = server.client.info("stats")["total_commands_processed"]
    finally:
        stop([process])
    return (after - before - 1) / seconds


def ping_rate(server: Server, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        server.client.ping()
    return count / (time.perf_counter() - start)


def _median(results: list[dict]) -> dict:
    return {key: statistics.median(result[key] for result in results) for key in results[0]}


def scenarios(server: Server, name: str, jobs: int) -> list[tuple[str, object, tuple]]:
    """What to measure for one system: (row key, measure function, its arguments)."""
    n = max(jobs // SLOW.get(name, 1), 200)
    found = [("enqueue_one", measure_enqueue, (server, name, "enqueue_one", n))]
    if name != "redis-limpyd-jobs 2":
        found.append(("enqueue_bulk", measure_enqueue, (server, name, "enqueue_bulk", n)))
    for workers in (1, 2):
        found.append((f"process_{workers}", measure_processing, (server, name, n, workers, "inprocess")))
    if name.startswith("limpyd-jobs ("):
        found.append(("process_1_fork", measure_processing,
                      (server, name, max(n // FORK_DIVISOR, 200), 1, "fork")))
        for workers in (1, 2):
            found.append((f"process_{workers}_prefork", measure_processing,
                          (server, name, n, workers, "prefork")))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2000 jobs, 1 run")
    parser.add_argument("--only", action="append", help="benchmark only this system (repeatable)")
    parser.add_argument("--baseline", help="also benchmark limpyd-jobs as of this git revision")
    args = parser.parse_args()
    jobs, runs = (2000, 1) if args.quick else (args.jobs, args.runs)
    if args.baseline:
        add_baseline(args.baseline)
    names = [name for name in PEERS if not args.only or any(only in name for only in args.only)]
    for name in names:
        python_for(name)
    with RedisServer() as private:
        server = Server(private)
        pings: list[float] = []
        results: dict[str, dict[str, list]] = {name: {} for name in names}
        for run in range(runs):  # each run goes through every system: drifts hit them alike
            pings.append(ping_rate(server, jobs))
            for name in names:
                print(f"# run {run + 1}/{runs}: {name}", file=sys.stderr)
                for key, measure, measure_args in scenarios(server, name, jobs):
                    results[name].setdefault(key, []).append(measure(*measure_args))
        rows = {name: {key: _median(values) for key, values in measured.items()}
                for name, measured in results.items()}
        for name in names:
            rows[name]["round_trips"] = measure_round_trips(server, name, 1000 // SLOW.get(name, 1))
            rows[name]["idle"] = measure_idle(server, name)
        ping = statistics.median(pings)
    print_tables(rows, ping, jobs, runs)


def _rate(row: dict, key: str) -> str:
    return f"{row[key]['rate']:,.0f}" if key in row else "—"


def print_tables(rows: dict, ping: float, jobs: int, runs: int) -> None:
    print(f"\nMedians of {runs} run(s); {jobs} no-op jobs ({jobs // 10} for redis-limpyd-jobs 2, "
          f"{max(jobs // FORK_DIVISOR, 200)} for a fork per job); redis-py PING loop: {ping:,.0f}/s.\n")
    print("| jobs/s | enqueue, one by one | enqueue, bulk | process, 1 worker | process, 2 workers "
          "| 1 worker, fork per job | 1 worker, prefork | 2 workers, prefork |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {_rate(row, 'enqueue_one')} | {_rate(row, 'enqueue_bulk')} | "
              f"{_rate(row, 'process_1')} | {_rate(row, 'process_2')} | {_rate(row, 'process_1_fork')} | "
              f"{_rate(row, 'process_1_prefork')} | {_rate(row, 'process_2_prefork')} |")
    print("\n| per job | round trips, add | round trips, take + finish | Redis commands, add | "
          "Redis commands, process | client CPU µs, add | client CPU µs, process | Redis CPU µs, add "
          "| Redis CPU µs, process | Redis memory per 100k finished jobs | idle worker, commands/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        add, process = row["enqueue_one"], row["process_1"]
        print(f"| {name} | {row['round_trips']['enqueue_one']:.2f} | {row['round_trips']['process']:.2f} | "
              f"{add['commands']:.1f} | {process['commands']:.1f} | {add['client_cpu'] * 1e6:.0f} | "
              f"{process['client_cpu'] * 1e6:.0f} | {add['redis_cpu'] * 1e6:.0f} | "
              f"{process['redis_cpu'] * 1e6:.0f} | {process['memory_100k'] / 1e6:.1f} MB | "
              f"{row['idle']:.2f} |")


if __name__ == "__main__":
    main()
