"""I/O-bound benchmark driver for saq (its own venv): each job awaits asyncio.sleep(WAIT); one
worker with ``concurrency`` = --concurrency."""

import asyncio

from common import identifiers, parse, report, timed
from saq import Queue, Worker

WAIT = 0.05


async def wait_async(ctx, *, identifier):
    await asyncio.sleep(WAIT)


def main():
    args = parse(["fill", "work"])
    url = f"redis://127.0.0.1:{args.port}"
    if args.scenario == "fill":
        async def fill():
            queue = Queue.from_url(url)
            for start in range(0, args.jobs, 500):
                await asyncio.gather(*(queue.enqueue("wait_async", identifier=identifier)
                                       for identifier in identifiers(args.jobs)[start:start + 500]))
            await queue.disconnect()
        report(**timed(asyncio.run, fill()))
        return

    async def work():
        worker = Worker(Queue.from_url(url), functions=[wait_async], concurrency=args.concurrency)
        await worker.start()
    asyncio.run(work())


if __name__ == "__main__":
    main()
