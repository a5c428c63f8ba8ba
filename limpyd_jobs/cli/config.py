"""``WorkerConfig``: turns command-line arguments into a configured, running worker.

Subclass it to run setup code first (``django.setup()``...) and pass the subclass to
``limpyd-jobs-worker --worker-config=my.module.MyWorkerConfig``; ``limpyd_jobs.workers`` exports
it, as redis-limpyd-jobs documents.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import Field, dataclass, fields
from typing import IO, Any

from .. import __version__
from ..connection import masked
from ..exceptions import ConfigurationException
from ..models import BaseJobsModel
from ..workers.settings import SETTINGS, boolean, clean, flag, importable, option, text
from ..workers.worker import Worker
from .common import (
    DATABASE_HELP,
    RET_OK,
    check_connection,
    setup_logging,
    use_database,
)


@dataclass
class CommandSettings:
    """The options of the command itself (not passed to the worker)."""

    pythonpath: str | None = option(
        None, text, "A directory to add to the Python path", "--pythonpath=/my/module")
    worker_config: Any = option(
        "limpyd_jobs.workers.WorkerConfig", importable,
        "The worker config class to use, default to limpyd_jobs.workers.WorkerConfig",
        "--worker-config=my.module.MyWorkerConfig")
    print_options: bool = option(False, boolean, "Print options used by the worker", "--print-options")
    dry_run: bool = option(
        False, boolean, "Won't execute any job, just starts the worker and finish it immediately",
        "--dry-run")
    worker_class: Any = option("limpyd_jobs.workers.Worker", importable, "Name of the Worker class to use",
                               "--worker-class=my.module.WorkerClass")
    database: str | None = option(None, text, DATABASE_HELP, "--database=localhost:6379:15")
    title: bool = option(True, boolean, "Do not update the title of the worker's process", "--no-title",
                         switch=True, only_negative=True)


COMMAND_SETTINGS: tuple[Field, ...] = tuple(fields(CommandSettings))
#: Every option of the command, in the order of ``--help``: the command's, then the worker's.
OPTIONS: tuple[Field, ...] = COMMAND_SETTINGS + tuple(
    setting for setting in SETTINGS if setting.metadata["cli"])


def make_parser() -> argparse.ArgumentParser:
    """The ``limpyd-jobs-worker`` argument parser, built from the options."""
    parser = argparse.ArgumentParser(prog="limpyd-jobs-worker", description="Run a worker using limpyd-jobs",
                                     argument_default=argparse.SUPPRESS)
    for setting in OPTIONS:
        _add_option(parser, setting)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _add_option(parser: argparse.ArgumentParser, setting: Field) -> None:
    name, meta = setting.name, setting.metadata
    described = f"{meta['help']}, e.g. {meta['example'].replace('%', '%%')}"
    negative = "--no-" + flag(setting)[2:]
    if meta["switch"] and meta["only_negative"]:
        parser.add_argument(negative, dest=name, action="store_false", help=described)
    elif meta["switch"]:
        parser.add_argument(flag(setting), dest=name, action="store_true", help=described)
        parser.add_argument(negative, dest=name, action="store_false",
                            help=f"Do NOT: {meta['help'][0].lower()}{meta['help'][1:]}, e.g. {negative}")
    elif setting.default is False:
        parser.add_argument(flag(setting), dest=name, action="store_true", help=described)
    else:
        parser.add_argument(flag(setting), dest=name, metavar=name.upper(), help=described)


class WorkerConfig:
    """Parse the command's arguments, prepare logging, Redis and the worker, then run it."""

    def __init__(self, argv: Sequence[str] | None = None, stdout: IO[str] | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.parser = make_parser()
        self.argv = list(sys.argv[1:] if argv is None else argv)
        parsed = vars(self.parser.parse_args(self.argv))
        self.given = set(parsed)
        try:
            self.options = self.clean_options(parsed)
        except ConfigurationException as exc:
            self.parser.error(str(exc))
        self.worker_class = self.options.pop("worker_class")

    def clean_options(self, parsed: dict[str, Any]) -> dict[str, Any]:
        """Every option, parsed and checked (defaults for those not given)."""
        options = {setting.name: clean(setting, parsed.get(setting.name, setting.default))
                   for setting in OPTIONS}
        if not options["queues"]:
            raise ConfigurationException("argument --queues is required, e.g. --queues=queue1,queue2")
        worker_class = options["worker_class"]
        if not (isinstance(worker_class, type) and issubclass(worker_class, Worker)):
            raise ConfigurationException(
                f"argument --worker-class: {worker_class!r} is not a Worker subclass")
        return options

    @property
    def worker_kwargs(self) -> dict[str, Any]:
        """What is passed to the worker: every worker option that was given on the command line."""
        return {setting.name: self.options[setting.name] for setting in SETTINGS
                if setting.name in self.given}

    def execute(self) -> int:
        """Connect, build the worker, and run it (or stop at once with ``--dry-run``)."""
        self.prepare_database()
        self.prepare_logging()
        worker = self.prepare_worker()
        if self.options["print_options"]:
            self.print_options(worker)
        if self.options["dry_run"]:
            worker.end_forced = True
        worker.run()
        return RET_OK

    def prepare_database(self) -> None:
        """Point the models at ``--database`` when given, and check the server answers."""
        models = [BaseJobsModel, self.options["queue_model"], self.options["error_model"]]
        try:
            use_database(self.options["database"], models)
        except ConfigurationException as exc:
            self.parser.error(str(exc))
        check_connection(models)

    def prepare_logging(self) -> None:
        """Add a stream handler in the documented format when none handles the worker's logger."""
        setup_logging(self.options["logger_name"])

    def prepare_worker(self) -> Any:
        """Create the worker from the options, with the process title on unless ``--no-title``."""
        worker = self.worker_class(**self.worker_kwargs)
        worker.update_title = self.options["title"]
        worker.update_proc_title()
        return worker

    def print_options(self, worker: Any) -> None:
        """Write every option, and the value the worker uses, one per line."""
        for setting in OPTIONS:
            if setting in SETTINGS:
                value = getattr(worker, setting.name)
            else:
                value = self.options.get(setting.name, getattr(self, setting.name, None))
            if isinstance(value, type) or callable(value):
                value = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', value)}"
            elif setting.name == "database" and value:
                value = masked(value)  # never print a password
            self.stdout.write(f"{setting.name}: {value}\n")
        self.stdout.flush()
