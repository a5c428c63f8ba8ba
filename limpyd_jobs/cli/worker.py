"""``limpyd-jobs worker`` (alias ``limpyd-jobs-worker``): run a worker from the command line.

The current directory is on the Python path. ``--pythonpath`` and ``--worker-config`` are read
first (the config class they name may need the path), ``WorkerConfig`` parses the rest;
``--processes=N`` runs N workers under the supervisor of ``pool``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..exceptions import ConfigurationException
from .common import autocomplete, import_object, run_command
from .config import WorkerConfig, configured_values, make_parser

PROG = "limpyd-jobs-worker"


def _pre_parse(argv: list[str]) -> argparse.Namespace:
    """``pythonpath`` (a list) and ``worker_config``, from the command line, variables or file.

    The file's errors are said once ``WorkerConfig`` parses it."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--pythonpath", action="append", default=[])
    parser.add_argument("--worker-config", default=None)
    parser.add_argument("--config", default=None)
    known, _ = parser.parse_known_args(argv)
    given = {name: value for name, value in vars(known).items() if value}
    try:
        found = configured_values(given, os.environ)
    except ConfigurationException:
        found = {}
    if "pythonpath" in found:
        known.pythonpath = [path for path in found["pythonpath"][0].split(os.pathsep) if path]
    if "worker_config" in found:
        known.worker_config = found["worker_config"][0]
    return known


def add_current_directory() -> None:
    """Put the current directory first on ``sys.path``, unless it is there already."""
    current = os.getcwd()
    if "" not in sys.path and current not in sys.path:
        sys.path.insert(0, current)


def load_config_class(path: str | None) -> type[WorkerConfig]:
    """The ``--worker-config`` class, or ``WorkerConfig``; CannotImport or ConfigurationException if not."""
    if not path:
        return WorkerConfig
    config_class = import_object("worker config", path)
    if not (isinstance(config_class, type) and issubclass(config_class, WorkerConfig)):
        raise ConfigurationException(f"argument --worker-config: {path!r} is not a WorkerConfig subclass")
    return config_class


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    add_current_directory()
    early = _pre_parse(argv)
    for path in reversed(early.pythonpath):
        if path not in sys.path:
            sys.path.insert(0, path)
    return run_command(prog, lambda: load_config_class(early.worker_config)([prog, *argv]).execute())


def run() -> None:
    """Console-script entry point."""
    autocomplete(lambda: make_parser(PROG))
    sys.exit(main())


if __name__ == "__main__":
    run()
