"""Benchmark driver for redis-limpyd-jobs 2 (installed from PyPI in its own venv)."""

import logging

from common import identifiers, parse, report, timed

from limpyd_jobs import Job, Worker
from limpyd_jobs.models import BaseJobsModel


def read_identifier(job, queue):
    """The benchmarked job: reads what it works on, its identifier, and does nothing with it."""
    len(job.identifier.hget())


def main():
    args = parse(["enqueue_one", "fill", "work"])
    BaseJobsModel.database.reset(host="127.0.0.1", port=args.port, db=0)
    names = identifiers(args.jobs)
    if args.scenario in ("enqueue_one", "fill"):
        def add_each():
            for identifier in names:
                Job.add_job(identifier=identifier, queue_name="bench")
        report(**timed(add_each))
    else:
        worker = Worker("bench", callback=read_identifier, max_loops=10_000_000, timeout=1,
                        logger_level=logging.WARNING)
        worker.run()


if __name__ == "__main__":
    main()
