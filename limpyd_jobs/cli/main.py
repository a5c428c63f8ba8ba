# PYTHON_ARGCOMPLETE_OK
"""``limpyd-jobs``: the one command, ``limpyd-jobs COMMAND [OPTIONS]``.

``worker``, ``schedule``, ``sweeper`` and ``dashboard`` run what their ``limpyd-jobs-*`` aliases
run; the other commands look at queues, jobs and workers and act on them (``admin``). The options
every command takes (``--database``, ``--config``) may come before or after the command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import admin
from .common import autocomplete

PROG = "limpyd-jobs"
#: The options any command takes, that may be given before the command's name.
SHARED_OPTIONS = ("--database", "--config")


def _worker(argv: list[str], prog: str) -> int:
    from . import worker
    return worker.main(argv, prog=prog)


def _schedule(argv: list[str], prog: str) -> int:
    from . import schedule
    return schedule.start(argv, prog=prog)


def _sweeper(argv: list[str], prog: str) -> int:
    from . import sweeper
    return sweeper.main(argv, prog=prog)


def _dashboard(argv: list[str], prog: str) -> int:
    from ..dashboard import cli
    from .common import run_command
    return run_command(prog, lambda: cli.main(argv, prog=prog))


#: The commands that run what an alias runs: name -> (runner, help).
RUNNERS: dict[str, tuple[Callable[[list[str], str], int], str]] = {
    "worker": (_worker, "run a worker (as limpyd-jobs-worker)"),
    "schedule": (_schedule, "set, inspect and dispatch recurring jobs (as limpyd-jobs-schedule)"),
    "sweeper": (_sweeper, "give back the jobs of dead workers (as limpyd-jobs-sweeper)"),
    "dashboard": (_dashboard, "serve the web dashboard (as limpyd-jobs-dashboard)"),
}


def split(argv: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """The shared options given before the command, the command's name (None: none), the rest."""
    leading: list[str] = []
    index = 0
    while index < len(argv):
        argument = argv[index]
        if argument.split("=", 1)[0] in SHARED_OPTIONS:
            taken = 1 if "=" in argument else 2
            leading += argv[index:index + taken]
            index += taken
        elif argument.startswith("-"):  # --help, --version, or a mistake: the full parser says
            return leading, None, list(argv[index:])
        else:
            return leading, argument, list(argv[index + 1:])
    return leading, None, []


def full_parser() -> argparse.ArgumentParser:
    """Every command with its options: for ``--help``, mistakes, and shell completion."""
    from ..dashboard.cli import parser as dashboard_parser
    from . import schedule, sweeper
    from .config import make_parser as worker_parser

    parser = admin.make_parser(PROG)
    parser.description = ("Run workers, schedules, the sweeper and the dashboard; look at queues, "
                          "jobs and workers, and act on them. 'limpyd-jobs COMMAND --help' for each.")
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    parents = {"worker": lambda: worker_parser(f"{PROG} worker"),
               "schedule": lambda: schedule.make_parser(f"{PROG} schedule"),
               "sweeper": lambda: sweeper.make_parser(f"{PROG} sweeper"),
               "dashboard": lambda: dashboard_parser(f"{PROG} dashboard")}
    for name, (_, text) in RUNNERS.items():
        commands.add_parser(name, help=text, description=text, parents=[parents[name]()], add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``limpyd-jobs`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    leading, name, rest = split(argv)
    if name in RUNNERS:
        return RUNNERS[name][0]([*leading, *rest], f"{PROG} {name}")
    if name is None or name not in admin.COMMANDS:
        try:
            full_parser().parse_args(argv)  # --help, --version, or the error saying what is wrong
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else admin.RET_USAGE
    return admin.main(argv)


def run() -> None:
    """Console-script entry point."""
    autocomplete(full_parser)
    sys.exit(main())


if __name__ == "__main__":
    run()
