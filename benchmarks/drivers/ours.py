"""Benchmark driver for limpyd-jobs (this repository), run with its venv's interpreter."""

from common import identifiers, parse, report, timed

from limpyd_jobs import Job, Worker
from limpyd_jobs.models import BaseJobsModel


def read_identifier(job, queue):
    """The benchmarked job: reads what it works on, its identifier, and does nothing with it."""
    len(job.identifier.hget())


def noop_failing_once(job, queue):
    """For benchmarks/delays.py: jobs named ``fails-once:...`` fail their first attempt."""
    if job.identifier.hget().startswith("fails-once:") and job.tries.hget() == "1":
        raise ValueError("first attempt fails")


def main():
    args = parse(["enqueue_one", "enqueue_bulk", "fill", "work"])
    BaseJobsModel.database.reset(host="127.0.0.1", port=args.port, db=0)
    names = identifiers(args.jobs)
    if args.scenario == "enqueue_one":
        def add_each():
            for identifier in names:
                Job.add_job(identifier=identifier, queue_name="bench")
        report(**timed(add_each))
    elif args.scenario in ("enqueue_bulk", "fill"):
        report(**timed(Job.add_jobs, names, "bench"))
    else:
        prefetch = {"prefetch": args.prefetch} if args.prefetch else {}  # an older baseline has none
        Worker("bench", callback=read_identifier, max_loops=10_000_000, logger_level="WARNING",
               execution_mode=args.mode, **prefetch).run()


if __name__ == "__main__":
    main()
