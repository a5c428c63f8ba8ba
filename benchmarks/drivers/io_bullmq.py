"""I/O-bound benchmark driver for BullMQ's Python package (its own venv): each job awaits
asyncio.sleep(WAIT); one worker with ``concurrency`` = --concurrency."""

import asyncio
import signal

from bullmq import Queue, Worker
from common import identifiers, parse, report, timed

WAIT = 0.05


async def wait_async(job, token):
    await asyncio.sleep(WAIT)


def main():
    args = parse(["fill", "work"])
    connection = {"connection": f"redis://127.0.0.1:{args.port}"}
    if args.scenario == "fill":
        async def fill():
            queue = Queue("bench", connection)
            names = identifiers(args.jobs)
            for start in range(0, args.jobs, 500):
                await queue.addBulk([{"name": "wait", "data": {"identifier": name}}
                                     for name in names[start:start + 500]])
            await queue.close()
        report(**timed(asyncio.run, fill()))
        return

    async def work():
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        worker = Worker("bench", wait_async, {**connection, "concurrency": args.concurrency})
        await stop.wait()
        await worker.close()
    asyncio.run(work())


if __name__ == "__main__":
    main()
