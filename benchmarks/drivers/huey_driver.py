"""Benchmark driver for huey (installed from PyPI in its own venv)."""

from common import identifiers, parse, report, timed
from huey import RedisHuey
from huey.consumer import Consumer

args = parse(["enqueue_one", "enqueue_bulk", "fill", "work"])
huey = RedisHuey("bench", host="127.0.0.1", port=args.port, results=False)


@huey.task()
def read_identifier(identifier):
    """The benchmarked job: reads what it works on (its argument, in the message)."""
    len(identifier)


def main():
    names = identifiers(args.jobs)
    if args.scenario == "enqueue_one":
        def add_each():
            for identifier in names:
                read_identifier(identifier)
        report(**timed(add_each))
    elif args.scenario in ("enqueue_bulk", "fill"):
        report(**timed(read_identifier.map, names))
    else:
        # One consumer runs all the worker processes (huey's own process pool).
        Consumer(huey, workers=args.workers, worker_type="process", periodic=False).run()


if __name__ == "__main__":
    main()
