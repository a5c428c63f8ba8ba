"""``manage.py limpyd_jobs_worker [options of limpyd-jobs-worker]``: a worker run with Django set up.

Its options default to ``settings.LIMPYD_JOBS``; the ones given on the command line win (they
come after the settings' in the arguments of ``limpyd_jobs.cli.worker.main``, where the last
value of an option is the one used). Every argument goes to the worker's own parser, so ``--help``
is the worker's.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from limpyd_jobs.cli import worker
from limpyd_jobs.contrib.django import worker_tasks
from limpyd_jobs.contrib.django.apps import configured
from limpyd_jobs.contrib.django.options import SETTING_NAME, settings_arguments
from limpyd_jobs.exceptions import ConfigurationException

#: The worker class run unless the settings or the command line name another.
DJANGO_WORKER = "limpyd_jobs.contrib.django.worker.DjangoWorker"
#: Django's own option that manage.py has already applied before running the command.
DJANGO_SETTINGS_FLAG = "--settings"


def without_django_settings(arguments: list[str]) -> list[str]:
    """``arguments`` less Django's ``--settings`` (manage.py applied it before setting Django up)."""
    kept: list[str] = []
    skip_next = False
    for argument in arguments:
        if skip_next:
            skip_next = False
        elif argument == DJANGO_SETTINGS_FLAG:
            skip_next = True
        elif not argument.startswith(DJANGO_SETTINGS_FLAG + "="):
            kept.append(argument)
    return kept


class Command(BaseCommand):
    help = (f"Run a limpyd-jobs worker with Django set up; options default to settings.{SETTING_NAME}, "
            "those given here win. Takes the options of limpyd-jobs-worker.")
    requires_system_checks: list[str] = []  # a worker serves no request: `manage.py check` is there

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """Django's parser, made to hand every argument, as given, to the worker's parser."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("args", nargs=argparse.REMAINDER, help="options of limpyd-jobs-worker")

        def pass_through(args: Any = None, namespace: Any = None) -> argparse.Namespace:
            return argparse.Namespace(
                args=without_django_settings([str(argument) for argument in args or ()]),
                verbosity=1, settings=None, pythonpath=None, traceback=False, no_color=False,
                force_color=False, skip_checks=True)

        parser.parse_args = pass_through  # type: ignore[method-assign]
        parser.print_help = lambda file=None: self.print_worker_help()  # type: ignore[method-assign]
        return parser

    def print_worker_help(self, args: tuple[str, ...] = ()) -> None:
        """The worker's ``--help`` (that of the ``--worker-config`` among ``args``, if any), after a
        line saying where the defaults come from."""
        self.stdout.write(f"Options default to settings.{SETTING_NAME}; the ones given here win.\n\n")
        self.stdout.flush()
        worker.main([*(argument for argument in args if argument not in ("-h", "--help")), "--help"])

    def worker_arguments(self, args: tuple[str, ...]) -> list[str]:
        """``DjangoWorker`` as the worker class, then the settings' options as arguments, then the
        ones given (the last value of an option wins); the Django tasks imported (worker_tasks)."""
        try:
            return [f"--worker-class={DJANGO_WORKER}",
                    *worker_tasks.prepare([*settings_arguments(configured()), *args], say=self.stderr.write)]
        except ConfigurationException as exc:
            raise CommandError(str(exc)) from None

    def handle(self, *args: str, **options: Any) -> None:
        """Run the worker (``args``: arguments of limpyd-jobs-worker); exit with its code unless 0."""
        if "-h" in args or "--help" in args:
            self.print_worker_help(args)
            return
        code = worker.main(self.worker_arguments(args))
        if code:
            raise SystemExit(code)
