"""Benchmark driver for rq (installed from PyPI in its own venv).

Jobs are added with ``Queue.enqueue`` one by one and ``Queue.enqueue_many`` in bulk; each worker is
rq's own CLI, ``rq worker --worker-class rq.SimpleWorker`` (the job runs in the worker process,
no fork per job), ``--quiet`` (rq logs two lines per job otherwise; the other workers log
nothing per job either), on rq's defaults otherwise (results kept 500 s).
"""

import os
import sys

from common import identifiers, parse, report, timed


def read_identifier(identifier):
    """The benchmarked job: reads what it works on (its argument, in the message)."""
    return len(identifier)


def main():
    args = parse(["enqueue_one", "enqueue_bulk", "fill", "work"])
    url = f"redis://127.0.0.1:{args.port}/0"
    if args.scenario == "work":
        os.execv(sys.executable, [sys.executable, "-m", "rq.cli", "worker", "--worker-class=rq.SimpleWorker",
                                  f"--url={url}", "--quiet", "bench"])
    from redis import Redis
    from rq import Queue

    queue = Queue("bench", connection=Redis.from_url(url))
    names = identifiers(args.jobs)
    function = "rq_driver.read_identifier"  # by name: here it is __main__.read_identifier
    if args.scenario == "enqueue_one":
        def add_each():
            for identifier in names:
                queue.enqueue(function, identifier)
        report(**timed(add_each))
    else:
        def add_all():
            queue.enqueue_many([Queue.prepare_data(function, (identifier,)) for identifier in names])
        report(**timed(add_all))


if __name__ == "__main__":
    main()
