"""I/O-bound benchmark driver for arq (its own venv): each job awaits asyncio.sleep(WAIT); one
worker with ``max_jobs`` = --concurrency, polling every 10 ms (its default, 500 ms, would cap
it at max_jobs jobs per half second)."""

import asyncio

from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker
from common import identifiers, parse, report, timed

WAIT = 0.05


async def wait_async(ctx, identifier):
    await asyncio.sleep(WAIT)


def main():
    args = parse(["fill", "work"])
    settings = RedisSettings(host="127.0.0.1", port=args.port)
    if args.scenario == "fill":
        async def fill():
            pool = await create_pool(settings)
            for start in range(0, args.jobs, 500):
                await asyncio.gather(*(pool.enqueue_job("wait_async", identifier)
                                       for identifier in identifiers(args.jobs)[start:start + 500]))
            await pool.aclose()
        report(**timed(asyncio.run, fill()))
        return
    Worker(functions=[wait_async], redis_settings=settings, max_jobs=args.concurrency, poll_delay=0.01,
           keep_result=60).run()


if __name__ == "__main__":
    main()
