"""Benchmark driver for huey (installed from PyPI in its own venv)."""

from common import parse, report, timed
from huey import RedisHuey
from huey.consumer import Consumer

args = parse(["enqueue_one", "enqueue_bulk", "fill", "work"])
huey = RedisHuey("bench", host="127.0.0.1", port=args.port, results=False)


@huey.task()
def noop(number):
    """The benchmarked job: does nothing."""


def main():
    if args.scenario == "enqueue_one":
        def add_each():
            for number in range(args.jobs):
                noop(number)
        report(**timed(add_each))
    elif args.scenario in ("enqueue_bulk", "fill"):
        report(**timed(noop.map, range(args.jobs)))
    else:
        consumer = Consumer(huey, workers=args.workers, worker_type="process", periodic=False)
        consumer.run()


if __name__ == "__main__":
    main()
