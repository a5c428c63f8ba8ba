"""``limpyd-jobs-worker``: run a worker from the command line.

``--pythonpath`` and ``--worker-config`` are read first, since the config class they name
may need the path; everything else is parsed by that ``WorkerConfig`` class.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..utils import import_string
from .common import RET_CONNECT, RET_USAGE, CannotConnect
from .config import WorkerConfig


def _pre_parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--pythonpath", action="append", default=[])
    parser.add_argument("--worker-config", default=None)
    known, _ = parser.parse_known_args(argv)
    return known


def load_config_class(path: str | None) -> type[WorkerConfig]:
    """The ``--worker-config`` class, or ``WorkerConfig``; ImportError/TypeError say why not."""
    if not path:
        return WorkerConfig
    config_class = import_string(path)
    if not (isinstance(config_class, type) and issubclass(config_class, WorkerConfig)):
        raise TypeError(f"{path!r} is not a WorkerConfig subclass")
    return config_class


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    early = _pre_parse(argv)
    for path in reversed(early.pythonpath):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        config_class = load_config_class(early.worker_config)
    except (ImportError, TypeError) as exc:
        sys.stderr.write(f"limpyd-jobs-worker: error: argument --worker-config: {exc}\n")
        return RET_USAGE
    try:
        return config_class(["limpyd-jobs-worker", *argv]).execute()
    except SystemExit as exc:  # argparse: usage or --help / --version
        return exc.code if isinstance(exc.code, int) else RET_USAGE
    except CannotConnect as exc:
        sys.stderr.write(f"limpyd-jobs-worker: error: {exc}\n")
        return RET_CONNECT


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
