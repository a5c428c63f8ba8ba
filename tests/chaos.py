"""Chaos runs: worker processes killed at random, or a network that resets connections and loses
replies. Each run reports what matters: jobs lost, jobs stuck, jobs run more than once, and
processes that exited on their own. ``tests/test_chaos.py`` runs short ones; for the figures:

    .venv/bin/python tests/chaos.py network --seconds 40 --jobs 1200
    .venv/bin/python tests/chaos.py kill --jobs 300
    .venv/bin/python tests/chaos.py kill --jobs 1000 --concurrency 50 --work 0.2
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

TESTS_DIR = str(Path(__file__).parent)
sys.path.insert(0, str(Path(__file__).parent.parent))

from limpyd_jobs import STATUSES, Job  # noqa: E402
from limpyd_jobs.models import BaseJobsModel  # noqa: E402
from limpyd_jobs.recurring.scheduler import RecurringJob, set_schedule, tell  # noqa: E402
from limpyd_jobs.testing.proxy import FaultyProxy  # noqa: E402

QUEUE = "chaos"
WORKER_OPTIONS = ["--max-loops=10000000", "--timeout=0.2", "--no-title", "--heartbeat-interval=0.2",
                  "--heartbeat-timeout=2", "--recovery-delay=0.3", "--fetch-delayed-delay=0.2",
                  "--lost-job-max-tries=50", "--logger-level=ERROR"]


@dataclass
class Report:
    """What a chaos run did, and what came of it."""

    kind: str
    jobs: int
    seconds: float = 0.0
    lost: list[str] = field(default_factory=list)  # added, never ran to an end
    stuck: list[str] = field(default_factory=list)  # still queued after the drain
    run_twice: int = 0  # executions beyond the first, all identifiers together
    exited: list[str] = field(default_factory=list)  # processes that stopped on their own
    faults: dict[str, int] = field(default_factory=dict)
    schedule_runs: int = 0  # runs of the CONTINUE schedule (network chaos)
    schedule_status: str = ""

    def __str__(self) -> str:
        return (f"[{self.kind}] {self.jobs} jobs, {self.seconds:.0f}s: lost {len(self.lost)}, stuck "
                f"{len(self.stuck)}, run twice {self.run_twice}, processes exited {len(self.exited)}; "
                f"faults {self.faults}" + (f"; CONTINUE schedule: {self.schedule_runs} runs, status "
                                           f"{self.schedule_status}" if self.kind == "network" else ""))


def _command(program: str) -> list[str]:
    script = Path(sys.executable).parent / program
    module = {"limpyd-jobs-worker": "limpyd_jobs.cli.worker",
              "limpyd-jobs-schedule": "limpyd_jobs.cli.schedule"}
    return [str(script)] if script.exists() else [sys.executable, "-m", module[program]]


def _environment(direct_port: int, work: float = 0.002) -> dict[str, str]:
    return {**os.environ, "CHAOS_DIRECT_PORT": str(direct_port), "PYTHONPATH": TESTS_DIR,
            "CHAOS_WORK_SECONDS": str(work)}


def start_worker(port: int, direct_port: int, mode: str, prefetch: int = 1,
                 concurrency: int = 1, work: float = 0.002) -> subprocess.Popen:
    """A worker process on ``port`` (Redis, or a proxy in front of it); its jobs note their runs
    on ``direct_port`` (Redis itself: the notes do not suffer the network's faults)."""
    return subprocess.Popen(
        [*_command("limpyd-jobs-worker"), f"--queues={QUEUE}", "--callback=sample_jobs.chaos_work",
         f"--pythonpath={TESTS_DIR}", f"--database=127.0.0.1:{port}:0", f"--execution-mode={mode}",
         f"--prefetch={prefetch}", f"--concurrency={concurrency}", *WORKER_OPTIONS],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_environment(direct_port, work))


def start_dispatcher(port: int, direct_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [*_command("limpyd-jobs-schedule"), f"--database=127.0.0.1:{port}:0", "dispatch", "--interval=0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_environment(direct_port))


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def drain(jobs: list[Job], seconds: float) -> None:
    """Wait (at most ``seconds``) until no job is queued any more."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(job.queued.hget() for job in jobs):
            return
        time.sleep(0.1)


def judge(report: Report, identifiers: list[str], direct: redis.Redis) -> None:
    """Count lost, stuck and repeated jobs, from the jobs in Redis and the runs noted."""
    runs = collections.Counter(direct.lrange("executions", 0, -1))
    jobs = Job.collection(queued=1).instances()
    report.stuck = sorted(job.identifier.hget() for job in jobs if job.identifier.hget() in set(identifiers))
    finished = {job.identifier.hget() for job in Job.collection(status=STATUSES.SUCCESS).instances()}
    report.lost = sorted(identifier for identifier in identifiers
                         if identifier not in finished and identifier not in report.stuck)
    report.run_twice = sum(runs[identifier] - 1 for identifier in identifiers if runs[identifier] > 1)


def network(port: int, seconds: float = 40, count: int = 1200, reset: float = 0.01, lose: float = 0.01,
            seed: int = 1234) -> Report:
    """A producer, five workers (inprocess, fork, prefork, inprocess taking 8 jobs at a time, and
    one running 50 at once in threads) and a dispatcher with a CONTINUE schedule, all through a
    proxy that resets connections and loses replies at random."""
    report = Report("network", count, seconds)
    direct = redis.Redis(port=port, decode_responses=True)
    set_schedule("tick:chaos", "CONTINUE")
    with FaultyProxy(port, seed=seed) as proxy:
        proxy.chaos(reset=reset, lose=lose)
        processes = [start_worker(proxy.port, port, mode) for mode in ("inprocess", "fork", "prefork")]
        processes.append(start_worker(proxy.port, port, "inprocess", prefetch=8))
        processes.append(start_worker(proxy.port, port, "inprocess", concurrency=50))
        processes.append(start_dispatcher(proxy.port, port))
        identifiers = [f"chaos:{number}" for number in range(count)]
        BaseJobsModel.database.reset(host="127.0.0.1", port=proxy.port, db=0)
        try:
            produce(identifiers, seconds / 2)  # adds go through the faults too, and are retried
            time.sleep(max(0.0, seconds - seconds / 2))  # the chaos cadence itself, not a wait for an event
        finally:
            BaseJobsModel.database.reset(host="127.0.0.1", port=port, db=0)
        proxy.calm()
        report.faults = {"resets": proxy.counts.resets, "lost replies": proxy.counts.lost,
                         "requests": proxy.counts.requests}
        drain(Job.collection(queued=1).instances(), 30)
        report.exited = [" ".join(process.args[-3:]) for process in processes if process.poll() is not None]
        report.schedule_runs = len(RecurringJob.collection(identifier="tick:chaos", status=STATUSES.SUCCESS))
        report.schedule_status = (tell("tick:chaos")["status"] or "").split(":")[0]
        stop(processes)
    judge(report, identifiers, direct)
    return report


def produce(identifiers: list[str], seconds: float) -> None:
    """Add the jobs one by one over ``seconds``, retrying an add that raised (as a producer would)."""
    pause = seconds / max(len(identifiers), 1)
    for identifier in identifiers:
        for _ in range(100):
            try:
                Job.add_job(identifier=identifier, queue_name=QUEUE)
                break
            except redis.RedisError:
                time.sleep(0.01)
        time.sleep(pause)


def kill(port: int, count: int = 300, kills: int = 12, mode: str = "inprocess", seed: int = 1234,
         prefetch: int = 1, concurrency: int = 1, work: float = 0.002) -> Report:
    """Three workers, SIGKILLed at random moments and restarted; each job works ``work`` seconds."""
    report = Report(f"kill -9, {mode}, prefetch {prefetch}, concurrency {concurrency}", count)
    rng = random.Random(seed)
    direct = redis.Redis(port=port, decode_responses=True)
    identifiers = [f"chaos:{number}" for number in range(count)]
    jobs = Job.add_jobs(identifiers, queue_name=QUEUE)
    workers = [start_worker(port, port, mode, prefetch, concurrency, work) for _ in range(3)]
    started, done_kills = time.monotonic(), 0
    try:
        while time.monotonic() - started < 45:
            done = len(Job.collection(status=STATUSES.SUCCESS))
            if done == count:
                break
            if done_kills < kills and done > done_kills * count // (kills + 2):
                victim = rng.randrange(len(workers))
                os.kill(workers[victim].pid, signal.SIGKILL)
                workers[victim].wait(10)
                workers[victim] = start_worker(port, port, mode, prefetch, concurrency, work)
                done_kills += 1
            time.sleep(rng.uniform(0.02, 0.1))  # the chaos cadence itself, not a wait for an event
        report.faults = {"kills": done_kills}
        report.exited = [str(worker.pid) for worker in workers if worker.poll() is not None]
    finally:
        stop(workers)
    report.seconds = time.monotonic() - started
    drain(jobs, 5)
    judge(report, identifiers, direct)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["network", "kill"])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--jobs", type=int, default=1200)
    parser.add_argument("--reset", type=float, default=0.01, help="probability of a reset, per request")
    parser.add_argument("--lose", type=float, default=0.01, help="probability of a lost reply, per request")
    parser.add_argument("--mode", default="inprocess", help="execution mode (kill)")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs in flight per worker (kill)")
    parser.add_argument("--work", type=float, default=0.002, help="seconds each job works (kill)")
    args = parser.parse_args()
    from limpyd_jobs.testing.server import RedisServer

    with RedisServer() as server:
        BaseJobsModel.database.reset(host="127.0.0.1", port=server.port, db=0)
        if args.kind == "network":
            print(network(server.port, args.seconds, args.jobs, args.reset, args.lose))
        else:
            print(kill(server.port, args.jobs, mode=args.mode, concurrency=args.concurrency, work=args.work))


if __name__ == "__main__":
    main()
