"""Benchmark driver for dramatiq (installed from PyPI in its own venv).

Jobs are added with ``actor.send`` (dramatiq has no bulk enqueue); workers are dramatiq's own CLI,
``dramatiq dramatiq_jobs --processes W`` (its default: 8 threads per process, a prefetch of twice
the threads), with ``--threads`` and the ``dramatiq_queue_prefetch`` variable when given.
"""

import os
import socket
import sys
from pathlib import Path

from common import identifiers, parse, report, timed


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    args = parse(["enqueue_one", "fill", "work"])
    os.environ["BENCH_REDIS_PORT"] = str(args.port)
    if args.scenario == "work":
        if args.prefetch:
            os.environ["dramatiq_queue_prefetch"] = str(args.prefetch)
        # The default Prometheus middleware serves its metrics over HTTP and keeps them in files:
        # a loopback address and a free port, and files of our own, so that nothing clashes.
        prometheus = Path(__file__).resolve().parent.parent / ".venvs" / "dramatiq-prometheus"
        os.environ.update(dramatiq_prom_host="127.0.0.1", dramatiq_prom_port=str(free_port()),
                          dramatiq_prom_db=str(prometheus), dramatiq_prom_lock=f"{prometheus}.lock")
        command = [sys.executable, "-m", "dramatiq", "dramatiq_jobs", f"--processes={args.workers}"]
        if args.threads:
            command.append(f"--threads={args.threads}")
        os.execv(sys.executable, command)
    from dramatiq_jobs import read_identifier

    names = identifiers(args.jobs)

    def add_each():
        for identifier in names:
            read_identifier.send(identifier)
    report(**timed(add_each))


if __name__ == "__main__":
    main()
