"""Benchmark driver for limpyd-jobs' tasks (this repository): ``@task``, ``enqueue`` one by one,
and a worker that runs the task, which reads its argument (as rq's, huey's and dramatiq's jobs)."""

from common import identifiers, parse, report, timed

from limpyd_jobs import Worker, task
from limpyd_jobs.models import BaseJobsModel


@task(queue_name="bench")
def read_argument(identifier):
    """The benchmarked task: reads what it works on, its argument, and returns nothing."""
    len(identifier)


def main():
    args = parse(["enqueue_one", "fill", "work"])
    BaseJobsModel.database.reset(host="127.0.0.1", port=args.port, db=0)
    from ours_tasks import read_argument as registered  # by its module's name: here it is __main__'s

    if args.scenario in ("enqueue_one", "fill"):  # no bulk enqueue: one by one
        def add_each():
            for identifier in identifiers(args.jobs):
                registered.enqueue(identifier)
        report(**timed(add_each))
    else:
        prefetch = {"prefetch": args.prefetch} if args.prefetch else {}
        Worker("bench", max_loops=10_000_000, logger_level="WARNING", execution_mode=args.mode,
               **prefetch).run()


if __name__ == "__main__":
    main()
