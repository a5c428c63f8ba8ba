"""Benchmark limpyd-jobs against huey, dramatiq, rq, BullMQ and redis-limpyd-jobs 2, side by side, in one run.

    .venv/bin/python benchmarks/run.py                    # full run: 10,000 jobs, 3 runs (~40 min)
    .venv/bin/python benchmarks/run.py --quick            # 2,000 jobs, 1 run
    .venv/bin/python benchmarks/run.py --only dramatiq    # only the systems whose name starts so
    .venv/bin/python benchmarks/run.py --baseline=HEAD~3  # this tree beside an earlier commit

It starts its own private redis-server (never the one on 6379), installs each peer from PyPI into
a virtual environment of its own (benchmarks/.venvs/, on first use; --baseline installs our
project as of that commit into one too), runs every scenario of every system in turn, --runs
times (interleaved, so that the machine's drifts hit them alike), and prints the medians as
Markdown tables. Nothing is asserted: figures are printed.

The job. Every system runs a job that reads what it works on and does nothing else:
limpyd-jobs and redis-limpyd-jobs 2 read the job's identifier in the callback
(``job.identifier.hget()``: redis-limpyd-jobs 2 asks Redis, limpyd-jobs serves it from the job's
hash that its take brought back), the others get their argument with the message
(``len(identifier)``). So no system does less than a real job would. Our tasks row runs a
``@task`` that reads its argument, enqueued one by one with ``enqueue(identifier)``, as rq's
``enqueue(f, i)``, huey's ``task(i)``, dramatiq's ``send(i)`` and BullMQ's ``add(name, {...})``
(its result, None, is kept): the peers' rows are their function-with-argument equivalents.

The scenarios. Enqueue: N jobs added one by one, then with the system's bulk call if it has one
(huey's ``map``, rq's ``enqueue_many``, BullMQ's ``addBulk``, our ``add_jobs``). Processing: the
queue is filled with N jobs first (in bulk where the system can), then W worker processes start
(W = 1, 2, the same N and the same Redis); the time runs from the first job out of the queue to
the queue drained, so the workers' start-up is not counted. This process reads the queue's
length every 10 ms, one pipelined command that is taken out of the counts. For dramatiq it reads
its message hash, which holds each job until its ack, and for BullMQ its wait and active lists,
so they are exact; for the others, the waiting list, which misses at most the one job each
worker holds at the end. redis-limpyd-jobs 2 runs N/10 jobs (it is that much slower); a fork per
job runs N/20.

The columns.
- jobs/s: jobs added or finished per second of wall-clock time.
- one Redis core can carry: 1e6 / (Redis CPU µs per job, add one by one + process with 1 worker):
  how many jobs per second keep one Redis core busy, whatever the number of workers.
- round trips: requests a client sent and waited for, counted by Redis itself (INFO stats
  total_reads_processed: a pipeline is one round trip), per job; the benchmark's own polls are
  taken out. add: one by one; process: 1 worker.
- client commands: the commands clients sent, read with MONITOR (the commands Lua scripts run
  are not counted; a pipeline counts all its commands; connection set-up is counted, 1,000 jobs
  share it), per job.
- Redis commands: every command Redis ran, those inside scripts included (INFO commandstats).
- client CPU µs: CPU time of the client processes (the enqueuing one; the worker processes with
  all their children, a pool's parent included) divided by the jobs.
- Redis CPU µs: the server's used_cpu_user + used_cpu_sys delta divided by the jobs.
- Redis memory per 100k finished jobs: what N finished jobs leave in Redis (used_memory after
  the workers stopped, less before the fill), scaled to 100,000. It holds a part that does not
  grow with N (about 0.3 MB here, e.g. Redis's tables not shrunk yet): a system that keeps nothing
  of a finished job (huey, dramatiq) shows that part alone, about 3 MB at N = 10,000.
- Redis bytes per waiting job: used_memory after a fill of 50,000 jobs (--waiting; a tenth for
  a slow system) less before, divided by the jobs: what a backlog costs, e.g. during an outage
  of the workers.
- idle worker, commands/s: commands (those scripts run included) Redis runs per second for one
  worker with nothing to do, over 10 s after 3 s to settle.

A last table compares each row to the best peer (the best of all their configurations, or of
their defaults only), with our tasks against our identifier jobs.

The peers, and why so.
- huey 3.5.4, ``RedisHuey(results=False)`` (the job returns None, which huey would not store
  anyway), one consumer with W worker processes (``worker_type="process"``, huey's own pool:
  threads would share one core).
- dramatiq 1.18 (``dramatiq[redis]``), run with its own CLI ``dramatiq MODULE --processes W``,
  twice: on its defaults (8 threads per process, a prefetch of 16, its default middleware,
  Prometheus included, which it installs), and with 1 thread and ``dramatiq_queue_prefetch=64``
  per process, the configuration closest to ours (one job at a time per process, few round trips
  for fetching). dramatiq has no bulk enqueue.
- rq 2.12, ``rq worker --worker-class rq.SimpleWorker --quiet``: SimpleWorker runs jobs in the
  worker process (the default worker forks once per job); --quiet because rq logs three lines
  per job otherwise and no other worker here logs per job; results are kept as by default
  (500 s); no --burst: it is stopped with SIGINT as the others, and idles as in production.
- BullMQ 3.4 (its Python client, ``bullmq``): ``Queue.add`` and ``Queue.addBulk``; a worker
  process is one asyncio ``Worker`` with ``concurrency`` 1 (its default) or 16. It keeps
  finished jobs by default, as rq and we do.
- redis-limpyd-jobs 2, its Worker with ``timeout=1`` and warnings only.
- limpyd-jobs (this tree, with this interpreter), its Worker in ``inprocess`` mode, warnings only;
  also ``fork`` (a fork per job) and ``prefork`` (one pre-forked child per worker, reused).
All use redis-py with hiredis (redis-limpyd-jobs 2 through redis-limpyd).
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
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DRIVERS = ROOT / "drivers"
VENVS = ROOT / ".venvs"
sys.path.insert(0, str(ROOT.parent))

from limpyd_jobs import Job  # noqa: E402
from limpyd_jobs.protocol import KEYS, STATUSES  # noqa: E402
from limpyd_jobs.tasks import TaskJob  # noqa: E402
from limpyd_jobs.testing.server import RedisServer  # noqa: E402

POLL = 0.01  # seconds between two looks at the queue while workers drain it
FORK_DIVISOR = 20  # a fork per job is slow by nature: fewer jobs keep the run short


@dataclass
class System:
    """One system benchmarked: its driver (in drivers/) and how to run it."""

    driver: str
    requirements: list[str] | None = None  # pip requirements of its venv; None: this interpreter
    venv: str = ""  # its venv's directory in .venvs/ (two configurations of one package share it)
    options: dict[str, object] = field(default_factory=dict)  # more options for its worker
    divisor: int = 1  # runs jobs // divisor jobs: for a slow system
    bulk: bool = True  # it has an enqueue in bulk
    modes: bool = False  # limpyd-jobs: also the fork and prefork execution modes
    pool: bool = False  # one command starts all the W worker processes
    queues: tuple[tuple[str, str], ...] = (("*:waiting", "llen"),)  # keys of the jobs not done yet
    defaults: bool = True  # its worker runs on the system's defaults (the "defaults" comparisons)


DRAMATIQ = ["dramatiq[redis]==1.18.0", "hiredis"]
DRAMATIQ_QUEUES = (("dramatiq:bench.msgs", "hlen"),)  # each job's message stays there until its ack
BULLMQ = ["bullmq==3.4.4", "hiredis"]
BULLMQ_QUEUES = (("bull:bench:wait", "llen"), ("bull:bench:active", "llen"))  # moved from one to the other
#: Ours: jobs not done are waiting, or RUNNING (taken ahead with a prefetch, or running): the
#: status index counts those.
OURS_QUEUES = (("*:waiting", "llen"), (KEYS.index(model=Job._name, field="status", value=STATUSES.RUNNING),
                                       "scard"))
#: Our tasks: their job model is TaskJob.
TASKS_QUEUES = (("*:waiting", "llen"),
                (KEYS.index(model=TaskJob._name, field="status", value=STATUSES.RUNNING), "scard"))
SYSTEMS: dict[str, System] = {
    "limpyd-jobs (this)": System("ours.py", modes=True, queues=OURS_QUEUES),
    "limpyd-jobs tasks (this)": System("ours_tasks.py", bulk=False, queues=TASKS_QUEUES),
    "limpyd-jobs (this, prefetch 16)": System("ours.py", options={"prefetch": 16}, queues=OURS_QUEUES,
                                              defaults=False),
    "huey": System("huey_driver.py", ["huey==3.5.4", "redis", "hiredis"], venv="huey", pool=True,
                   queues=(("huey.redis.*", "llen"),)),
    "dramatiq (defaults)": System("dramatiq_driver.py", DRAMATIQ, venv="dramatiq", bulk=False, pool=True,
                                  queues=DRAMATIQ_QUEUES),
    "dramatiq (1 thread, prefetch 64)": System("dramatiq_driver.py", DRAMATIQ, venv="dramatiq",
                                               options={"threads": 1, "prefetch": 64}, bulk=False, pool=True,
                                               queues=DRAMATIQ_QUEUES, defaults=False),
    "rq (SimpleWorker)": System("rq_driver.py", ["rq==2.12.0", "hiredis"], venv="rq",
                                queues=(("rq:queue:bench", "llen"),)),
    "BullMQ (concurrency 1)": System("bullmq_driver.py", BULLMQ, venv="bullmq", queues=BULLMQ_QUEUES),
    "BullMQ (concurrency 16)": System("bullmq_driver.py", BULLMQ, venv="bullmq", options={"prefetch": 16},
                                      queues=BULLMQ_QUEUES, defaults=False),
    "redis-limpyd-jobs 2": System("limpyd_jobs2.py", ["redis-limpyd-jobs==2", "setuptools<81", "hiredis"],
                                  venv="redis-limpyd-jobs-2", divisor=10, bulk=False),
}


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
    SYSTEMS[name] = System("ours.py", [str(source), "hiredis"], venv=f"limpyd-jobs-{commit}", modes=True,
                           queues=OURS_QUEUES)
    return name


def python_for(name: str) -> str:
    """The interpreter of the system's venv, created on first use."""
    system = SYSTEMS[name]
    if system.requirements is None:
        return sys.executable
    venv = VENVS / re.sub(r"[^\w.-]+", "-", system.venv or name).strip("-")
    python, installed = venv / "bin" / "python", venv / "requirements.txt"
    wanted = "\n".join(system.requirements) + "\n"
    if not python.exists() or not installed.exists() or installed.read_text() != wanted:
        print(f"# installing {', '.join(system.requirements)} into {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *system.requirements], check=True)
        installed.write_text(wanted)  # a changed pin installs anew
    return str(python)


class Server:
    """The private Redis, with the readings the benchmark needs."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.port = server.port
        self.client = server.client(decode_responses=True)
        self.queues: list[tuple[str, str]] = []

    def reset(self) -> None:
        self.client.flushall()
        self.client.config_resetstat()

    def snapshot(self) -> dict[str, float]:
        """One INFO, so one command and one round trip of our own between two snapshots."""
        info = self.client.info("everything")
        calls = sum(value["calls"] for key, value in info.items() if key.startswith("cmdstat_"))
        return {"calls": calls, "reads": info["total_reads_processed"],
                "cpu": info["used_cpu_user"] + info["used_cpu_sys"], "memory": info["used_memory"]}

    def find_queues(self, patterns: tuple[tuple[str, str], ...]) -> None:
        """Remember the keys of the jobs not done yet, as they exist after a fill: polls stay cheap."""
        self.queues = [(key, command) for pattern, command in patterns
                       for key in (self.client.keys(pattern) if "*" in pattern else [pattern])]

    def pending(self) -> int:
        """Jobs not done yet: one round trip, ``len(self.queues)`` commands."""
        with self.client.pipeline(transaction=False) as pipe:
            for key, command in self.queues:
                pipe.execute_command(command.upper(), key)
            return sum(pipe.execute())


def driver(name: str, scenario: str, port: int, jobs: int, **options: object) -> list[str]:
    command = [python_for(name), str(DRIVERS / SYSTEMS[name].driver), scenario, f"--port={port}",
               f"--jobs={jobs}"]
    if scenario == "work":
        options = {**SYSTEMS[name].options, **options}
    return command + [f"--{key}={value}" for key, value in options.items()]


def run_driver(name: str, scenario: str, port: int, jobs: int) -> dict:
    result = subprocess.run(driver(name, scenario, port, jobs), capture_output=True, text=True,
                            timeout=600, cwd=DRIVERS)
    if result.returncode:
        raise RuntimeError(f"{name} {scenario} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class Workers:
    """The worker processes of one measure: started together, stopped with SIGINT as a user would,
    their stderr kept to tell why if one dies."""

    def __init__(self, name: str, port: int, jobs: int, workers: int, mode: str = "inprocess") -> None:
        count = 1 if SYSTEMS[name].pool else workers
        options = {"workers": workers}
        if SYSTEMS[name].modes:
            options["mode"] = mode
        self.name = name
        self.logs = [tempfile.TemporaryFile() for _ in range(count)]
        self.processes = [subprocess.Popen(driver(name, "work", port, jobs, **options), cwd=DRIVERS,
                                           stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
                          for log in self.logs]

    def check(self) -> None:
        """Raise if a worker process ended on its own: it would never drain the queue."""
        for process, log in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{self.name}: a worker exited ({process.returncode}):\n"
                                   f"{log.read().decode(errors='replace')[-3000:]}")

    def cpu(self) -> float:
        return sum(process_cpu(process.pid) for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own group: its children too
                process.wait(5)
        for log in self.logs:
            log.close()


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
    result = run_driver(name, scenario, server.port, jobs)
    after = server.snapshot()
    return {"rate": jobs / result["seconds"], "client_cpu": result["cpu"] / jobs,
            "redis_cpu": (after["cpu"] - before["cpu"]) / jobs,
            "commands": (after["calls"] - before["calls"] - 1) / jobs,
            "round_trips": (after["reads"] - before["reads"] - 1) / jobs}


def measure_processing(server: Server, name: str, jobs: int, workers: int, mode: str) -> dict:
    """Fill the queue, start the workers, time from the first job done to the last."""
    server.reset()
    empty = server.snapshot()["memory"]
    run_driver(name, "fill", server.port, jobs)
    server.find_queues(SYSTEMS[name].queues)
    pool = Workers(name, server.port, jobs, workers, mode)
    try:
        deadline = time.monotonic() + 600
        while (left := server.pending()) >= jobs:  # wait for the first job done
            pool.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: no job done in 600 s")
            time.sleep(0.002)
        start, before, cpu_before = time.perf_counter(), server.snapshot(), pool.cpu()
        polls = 0
        while True:
            polls += 1
            if not server.pending():
                break
            pool.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: the queue was not drained in 600 s")
            time.sleep(POLL)
        elapsed = time.perf_counter() - start
        after, cpu_after = server.snapshot(), pool.cpu()
    finally:
        pool.stop()
    return {"rate": left / elapsed, "client_cpu": (cpu_after - cpu_before) / left,
            "redis_cpu": (after["cpu"] - before["cpu"]) / left,
            "commands": (after["calls"] - before["calls"] - 1 - polls * len(server.queues)) / left,
            "round_trips": (after["reads"] - before["reads"] - 1 - polls) / left,
            "memory_100k": (server.snapshot()["memory"] - empty) / jobs * 100_000}


class Monitor:
    """Collects the commands clients send (not those scripts run) while the block runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.commands: list[dict] = []

    def _watch(self) -> None:
        # no read timeout: a system may send nothing for seconds (a worker starting up)
        with self.server.server.client(decode_responses=True, socket_timeout=None).monitor() as monitor:
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


def measure_client_commands(server: Server, name: str, jobs: int) -> dict[str, float]:
    """Commands clients send per job (not those scripts run), read with MONITOR: adding one by one,
    and processing with one worker (its start and stop included)."""
    own_port = server.client.client_info()["addr"].rsplit(":", 1)[1]
    counts = {}
    for scenario in ("enqueue_one", "process"):
        server.reset()
        if scenario == "process":
            run_driver(name, "fill", server.port, jobs)
            server.find_queues(SYSTEMS[name].queues)
        with Monitor(server) as monitor:
            if scenario == "enqueue_one":
                run_driver(name, "enqueue_one", server.port, jobs)
            else:
                pool = Workers(name, server.port, jobs, 1)
                try:
                    deadline = time.monotonic() + 300
                    while server.pending() and time.monotonic() < deadline:
                        pool.check()
                        time.sleep(0.01)
                finally:
                    pool.stop()
        counted = [command for command in monitor.commands if command["client_port"] != own_port]
        counts[scenario] = len(counted) / jobs
    return counts


def measure_waiting_memory(server: Server, name: str, jobs: int) -> float:
    """Redis bytes per waiting job: ``used_memory`` before and after a fill of ``jobs`` jobs."""
    server.reset()
    before = server.snapshot()["memory"]
    run_driver(name, "fill", server.port, jobs)
    return (server.snapshot()["memory"] - before) / jobs


def measure_idle(server: Server, name: str, seconds: float = 10.0) -> float:
    """Redis commands per second caused by one worker with nothing to do."""
    server.reset()
    pool = Workers(name, server.port, 0, 1)
    try:
        time.sleep(3)  # let it start and settle
        pool.check()
        before = server.client.info("stats")["total_commands_processed"]
        time.sleep(seconds)
        after = server.client.info("stats")["total_commands_processed"]
    finally:
        pool.stop()
    return (after - before - 1) / seconds


def ping_rate(server: Server, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        server.client.ping()
    return count / (time.perf_counter() - start)


def _median(results: list[dict]) -> dict:
    return {key: statistics.median(result[key] for result in results) for key in results[0]}


Measure = tuple[str, Callable[..., dict], tuple]


def scenarios(server: Server, name: str, jobs: int) -> list[Measure]:
    """What to measure for one system: (row key, measure function, its arguments)."""
    system = SYSTEMS[name]
    n = max(jobs // system.divisor, 200)
    found: list[Measure] = [("enqueue_one", measure_enqueue, (server, name, "enqueue_one", n))]
    if system.bulk:
        found.append(("enqueue_bulk", measure_enqueue, (server, name, "enqueue_bulk", n)))
    for workers in (1, 2):
        found.append((f"process_{workers}", measure_processing, (server, name, n, workers, "inprocess")))
    if system.modes:
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
    parser.add_argument("--only", action="append", metavar="NAME_PREFIX",
                        help="benchmark only the systems whose name starts so (repeatable)")
    parser.add_argument("--baseline", help="also benchmark limpyd-jobs as of this git revision")
    parser.add_argument("--waiting", type=int, default=50_000,
                        help="jobs filled to measure Redis bytes per waiting job (default 50,000)")
    args = parser.parse_args()
    jobs, runs = (2000, 1) if args.quick else (args.jobs, args.runs)
    waiting = 5000 if args.quick else args.waiting
    if args.baseline:
        add_baseline(args.baseline)
    names = [name for name in SYSTEMS
             if not args.only or any(name.lower().startswith(only.lower()) for only in args.only)]
    if not names:
        parser.error(f"no system's name starts with {' or '.join(args.only)}: {', '.join(SYSTEMS)}")
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
            print(f"# client commands (MONITOR) and idle worker: {name}", file=sys.stderr)
            rows[name]["client_commands"] = measure_client_commands(
                server, name, max(1000 // SYSTEMS[name].divisor, 100))
            rows[name]["idle"] = measure_idle(server, name)
            rows[name]["waiting_bytes"] = measure_waiting_memory(server, name,
                                                                 max(waiting // SYSTEMS[name].divisor, 1000))
        ping = statistics.median(pings)
    print_tables(rows, ping, jobs, runs)
    print_ratios(rows)


def _rate(row: dict, key: str) -> str:
    return f"{row[key]['rate']:,.0f}" if key in row else "—"


def print_tables(rows: dict, ping: float, jobs: int, runs: int) -> None:
    fewer = ", ".join(f"{max(jobs // SYSTEMS[name].divisor, 200)} for {name}"
                      for name in rows if SYSTEMS[name].divisor > 1)
    if any(SYSTEMS[name].modes for name in rows):
        fewer += f"{', ' if fewer else ''}{max(jobs // FORK_DIVISOR, 200)} for a fork per job"
    print(f"\nMedians of {runs} run(s); {jobs} jobs{f' ({fewer})' if fewer else ''}, each reading "
          f"what it works on; redis-py PING loop: {ping:,.0f}/s.\n")
    print("| jobs/s | enqueue, one by one | enqueue, bulk | process, 1 worker | process, 2 workers "
          "| 1 worker, fork per job | 1 worker, prefork | 2 workers, prefork | one Redis core can carry |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        carry = 1 / (row["enqueue_one"]["redis_cpu"] + row["process_1"]["redis_cpu"])
        print(f"| {name} | {_rate(row, 'enqueue_one')} | {_rate(row, 'enqueue_bulk')} | "
              f"{_rate(row, 'process_1')} | {_rate(row, 'process_2')} | {_rate(row, 'process_1_fork')} | "
              f"{_rate(row, 'process_1_prefork')} | {_rate(row, 'process_2_prefork')} | {carry:,.0f} |")
    print("\n| per job | round trips, add | round trips, process | client commands, add | "
          "client commands, process | Redis commands, add | Redis commands, process | client CPU µs, add "
          "| client CPU µs, process | Redis CPU µs, add | Redis CPU µs, process "
          "| Redis memory per 100k finished jobs | Redis bytes per waiting job | idle worker, commands/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        add, process, commands = row["enqueue_one"], row["process_1"], row["client_commands"]
        print(f"| {name} | {add['round_trips']:.2f} | {process['round_trips']:.2f} | "
              f"{commands['enqueue_one']:.2f} | {commands['process']:.2f} | {add['commands']:.1f} | "
              f"{process['commands']:.1f} | {add['client_cpu'] * 1e6:.0f} | "
              f"{process['client_cpu'] * 1e6:.0f} | {add['redis_cpu'] * 1e6:.0f} | "
              f"{process['redis_cpu'] * 1e6:.0f} | {process['memory_100k'] / 1e6:.1f} MB | "
              f"{row['waiting_bytes']:,.0f} | {row['idle']:.2f} |")


OURS, OURS_PREFETCH = "limpyd-jobs (this)", "limpyd-jobs (this, prefetch 16)"
OURS_TASKS = "limpyd-jobs tasks (this)"


def _carry_cost(row: dict) -> float:
    """Redis CPU µs per job, added one by one and processed by one worker."""
    return (row["enqueue_one"]["redis_cpu"] + row["process_1"]["redis_cpu"]) * 1e6


#: The comparisons of the ratios table: (what, value of a row or None, higher is better, our rows,
#: only the peers on their defaults).
COMPARISONS: list[tuple[str, Callable[[dict], float | None], bool, tuple[str, ...], bool]] = [
    ("enqueue, one by one (jobs/s)", lambda row: row["enqueue_one"]["rate"], True, (OURS,), False),
    ("enqueue, bulk (jobs/s)", lambda row: row.get("enqueue_bulk", {}).get("rate"), True, (OURS,), False),
    ("process, 1 worker, best configuration (jobs/s)", lambda row: row["process_1"]["rate"], True,
     (OURS, OURS_PREFETCH), False),
    ("process, 1 worker, defaults (jobs/s)", lambda row: row["process_1"]["rate"], True, (OURS,), True),
    ("process, 2 workers, best configuration (jobs/s)", lambda row: row["process_2"]["rate"], True,
     (OURS, OURS_PREFETCH), False),
    ("process, 2 workers, defaults (jobs/s)", lambda row: row["process_2"]["rate"], True, (OURS,), True),
    ("Redis CPU µs per job, add + process (1 worker)", _carry_cost, False, (OURS, OURS_PREFETCH), False),
    ("client CPU µs per add", lambda row: row["enqueue_one"]["client_cpu"] * 1e6, False, (OURS,), False),
    ("client CPU µs per processed job (1 worker)", lambda row: row["process_1"]["client_cpu"] * 1e6, False,
     (OURS, OURS_PREFETCH), False),
    ("Redis bytes per waiting job", lambda row: row["waiting_bytes"], False, (OURS,), False),
]


def print_ratios(rows: dict) -> None:
    """Each comparison: our best row, the best peer's, and the ratio (above 1: we are ahead)."""
    peers = {name: row for name, row in rows.items() if not name.startswith("limpyd-jobs")}
    if not peers or not any(name in rows for name in (OURS, OURS_PREFETCH)):
        return
    print("\n| row | ours | best peer | ratio (above 1: ours ahead) |")
    print("|---|---:|---:|---:|")
    for what, value, higher, ours, defaults_only in COMPARISONS:
        pick = max if higher else min
        mine = [(value(rows[name]), name) for name in ours if name in rows and value(rows[name]) is not None]
        theirs = [(value(row), name) for name, row in peers.items()
                  if value(row) is not None and (SYSTEMS[name].defaults or not defaults_only)]
        if not mine or not theirs:
            continue
        (our, our_name), (peer, peer_name) = pick(mine), pick(theirs)
        ratio = our / peer if higher else peer / our
        print(f"| {what} | {our:,.0f} ({our_name}) | {peer:,.0f} ({peer_name}) | {ratio:.2f}x |")
    if OURS_TASKS in rows and OURS in rows:
        for key, what in (("enqueue_one", "enqueue, one by one"), ("process_1", "process, 1 worker"),
                          ("process_2", "process, 2 workers")):
            ratio = rows[OURS_TASKS][key]["rate"] / rows[OURS][key]["rate"]
            print(f"| tasks / identifier jobs, {what} (jobs/s) | {rows[OURS_TASKS][key]['rate']:,.0f} | "
                  f"{rows[OURS][key]['rate']:,.0f} (ours) | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
