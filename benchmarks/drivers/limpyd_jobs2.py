"""Benchmark driver for redis-limpyd-jobs 2 (installed from PyPI in its own venv)."""

import logging

from common import parse, report, timed

from limpyd_jobs import Job, Worker
from limpyd_jobs.models import BaseJobsModel


def noop(job, queue):
    """The benchmarked job: does nothing."""


def main():
    args = parse(["enqueue_one", "fill", "work"])
    BaseJobsModel.database.reset(host="127.0.0.1", port=args.port, db=0)
    if args.scenario in ("enqueue_one", "fill"):
        def add_each():
            for number in range(args.jobs):
                Job.add_job(identifier=f"job:{number}", queue_name="bench")
        report(**timed(add_each))
    else:
        worker = Worker("bench", callback=noop, max_loops=10_000_000, timeout=1,
                        logger_level=logging.WARNING)
        worker.run()


if __name__ == "__main__":
    main()
