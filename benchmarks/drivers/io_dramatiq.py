"""I/O-bound benchmark driver for dramatiq (its venv): each job sleeps WAIT seconds
(``time.sleep``, dramatiq runs actors in threads); one process with --concurrency threads."""

import os
import sys
from pathlib import Path

from common import identifiers, parse, report, timed
from dramatiq_driver import free_port


def main():
    args = parse(["fill", "work"])
    os.environ["BENCH_REDIS_PORT"] = str(args.port)
    if args.scenario == "work":
        prometheus = Path(__file__).resolve().parent.parent / ".venvs" / "dramatiq-prometheus"
        os.environ.update(dramatiq_prom_host="127.0.0.1", dramatiq_prom_port=str(free_port()),
                          dramatiq_prom_db=str(prometheus), dramatiq_prom_lock=f"{prometheus}.lock")
        os.environ["dramatiq_queue_prefetch"] = str(args.concurrency * 2)
        os.execv(sys.executable, [sys.executable, "-m", "dramatiq", "dramatiq_jobs", "--processes=1",
                                  f"--threads={args.concurrency}"])
    from dramatiq_jobs import wait_sync

    def add_each():
        for identifier in identifiers(args.jobs):
            wait_sync.send(identifier)
    report(**timed(add_each))


if __name__ == "__main__":
    main()
