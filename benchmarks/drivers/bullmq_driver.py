"""Benchmark driver for BullMQ's Python client (installed from PyPI in its own venv).

Jobs are added with ``Queue.add`` one by one, or ``Queue.addBulk``; a worker process is one
``Worker`` (asyncio) with ``concurrency`` jobs at a time (``--prefetch``; 1 when not given).
BullMQ keeps finished jobs by default, as ours and rq do.
"""

import asyncio
import signal
import time

from bullmq import Queue, Worker
from common import identifiers, parse, report

NAME = "bench"


async def read_identifier(job, token):
    """The benchmarked job: reads what it works on (its argument, in the job's data)."""
    len(job.data["identifier"])


async def enqueue(args, bulk):
    """Add the jobs one by one (``Queue.add``) or in one ``Queue.addBulk``; report the time taken."""
    queue = Queue(NAME, {"connection": f"redis://127.0.0.1:{args.port}"})
    names = identifiers(args.jobs)
    await queue.add("warm-up", {"identifier": "warm-up"})  # its connection and scripts: not timed
    await queue.obliterate(force=True)
    start, cpu = time.perf_counter(), time.process_time()
    if bulk:
        await queue.addBulk([{"name": "read_identifier", "data": {"identifier": identifier}}
                             for identifier in names])
    else:
        for identifier in names:
            await queue.add("read_identifier", {"identifier": identifier})
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    await queue.close()
    report(seconds=seconds, cpu=cpu)


async def work(args):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    worker = Worker(NAME, read_identifier, {"connection": f"redis://127.0.0.1:{args.port}",
                                            "concurrency": args.prefetch or 1})
    await stop.wait()
    await worker.close()


def main():
    args = parse(["enqueue_one", "enqueue_bulk", "fill", "work"])
    if args.scenario == "work":
        asyncio.run(work(args))
    else:
        asyncio.run(enqueue(args, bulk=args.scenario != "enqueue_one"))


if __name__ == "__main__":
    main()
