"""I/O-bound benchmark driver for limpyd-jobs (this repository): each job waits WAIT seconds,
``await asyncio.sleep`` (--kind=async) or ``time.sleep`` (--kind=sync), with --concurrency."""

import asyncio
import time

from common import identifiers, parse, report, timed

from limpyd_jobs import Job, Worker
from limpyd_jobs.models import BaseJobsModel

WAIT = 0.05


async def wait_async(job, queue):
    await asyncio.sleep(WAIT)


def wait_sync(job, queue):
    time.sleep(WAIT)


def main():
    args = parse(["fill", "work"])
    BaseJobsModel.database.reset(host="127.0.0.1", port=args.port, db=0)
    if args.scenario == "fill":
        report(**timed(Job.add_jobs, identifiers(args.jobs), "bench"))
        return
    callback = wait_async if args.kind == "async" else wait_sync
    Worker("bench", callback=callback, max_loops=None, logger_level="WARNING",
           concurrency=args.concurrency).run()


if __name__ == "__main__":
    main()
