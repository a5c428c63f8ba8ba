"""``WorkerConfig``: turns command-line arguments into a configured, running worker.

Subclass it to run setup code first (``django.setup()``...) and pass the subclass to
``limpyd-jobs-worker --worker-config=my.module.MyWorkerConfig``; ``limpyd_jobs.workers`` exports
it, as redis-limpyd-jobs documents.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import Field, dataclass, fields
from typing import IO, Any

import limpyd

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
    update_title: bool = option(True, boolean, "Do not update the title of the worker's process",
                                "--no-title", switch=True, only_negative=True, flag="--title")


COMMAND_SETTINGS: tuple[Field, ...] = tuple(fields(CommandSettings))
#: The options of redis-limpyd-jobs' command, in the order of its ``--help``.
SEED_ORDER = (
    "pythonpath", "worker_config", "print_options", "dry_run", "queues", "queue_model", "error_model",
    "worker_class", "callback", "logger_name", "logger_level", "save_errors", "save_tracebacks", "max_loops",
    "max_duration", "terminate_gracefuly", "timeout", "fetch_priorities_delay", "fetch_delayed_delay",
    "requeue_times", "requeue_priority_delta", "requeue_delay_delta", "database", "update_title",
)
#: Every option of the command, in the order of ``--help``: redis-limpyd-jobs' ones, then ours.
OPTIONS: tuple[Field, ...] = tuple(sorted(
    COMMAND_SETTINGS + tuple(setting for setting in SETTINGS if setting.metadata["cli"]),
    key=lambda setting: SEED_ORDER.index(setting.name) if setting.name in SEED_ORDER else len(SEED_ORDER)))
#: Options whose value is an object to import (given as a dotted path).
IMPORTED = ("worker_config", "worker_class", "queue_model", "error_model", "callback")


def make_parser(prog: str = "limpyd-jobs-worker", version: str = "") -> argparse.ArgumentParser:
    """The ``limpyd-jobs-worker`` argument parser, built from the options."""
    parser = argparse.ArgumentParser(prog=prog, description="Run a worker using limpyd-jobs",
                                     argument_default=argparse.SUPPRESS)
    for setting in OPTIONS:
        _add_option(parser, setting)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} {version}".rstrip())
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
    """Parse the command line, then build and run the worker it describes (``execute``).

    ``argv`` is read as ``sys.argv`` is (the default): the program name first. Once parsed,
    ``options`` holds every option under its name, as redis-limpyd-jobs' did: the value given
    (``queues`` as the text given, classes and the callback imported), or None when not given
    (the worker then uses its own default; classes default to the worker class's).
    """

    help = "Run a worker using limpyd-jobs"

    def __init__(self, argv: Sequence[str] | None = None, stdout: IO[str] | None = None) -> None:
        argv = list(sys.argv if argv is None else argv)
        if argv and not argv[0].startswith("-"):  # the program name, as in sys.argv
            self.prog_name, argv = os.path.basename(argv[0]), argv[1:]
        else:
            self.prog_name = "limpyd-jobs-worker"
        self.argv = argv
        self.stdout = stdout or sys.stdout
        self.worker: Any = None
        self.manage_options()

    def get_version(self) -> str:
        """The versions shown by ``--version`` after the program's own."""
        return f"(limpyd-jobs {__version__}, redis-limpyd {limpyd.EXACT_VERSION})"

    def create_parser(self) -> argparse.ArgumentParser:
        """The parser of the command line."""
        return make_parser(self.prog_name, self.get_version())

    def manage_options(self) -> None:
        """Parse ``argv`` into ``options`` (exits with the usage and the error when it cannot)."""
        self.parser = self.create_parser()
        given = vars(self.parser.parse_args(self.argv))
        try:
            self.options = argparse.Namespace(**self.clean_options(given))
        except ConfigurationException as exc:
            self.parser.error(str(exc))
        self.worker_class = self.options.worker_class
        self.update_title = self.options.update_title

    def clean_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Every option, from the values given: parsed and checked, or None when not given
        (``queues`` stays the text given; commands options and classes have their defaults)."""
        if not given.get("queues"):
            raise ConfigurationException("argument --queues is required, e.g. --queues=queue1,queue2")
        options = {setting.name: clean(setting, given[setting.name]) if setting.name in given else None
                   for setting in OPTIONS}
        options["queues"] = given["queues"]
        for setting in COMMAND_SETTINGS:
            if options[setting.name] is None:
                options[setting.name] = clean(setting, setting.default)
        worker_class = options["worker_class"]
        if not (isinstance(worker_class, type) and issubclass(worker_class, Worker)):
            raise ConfigurationException(
                f"argument --worker-class: {worker_class!r} is not a Worker subclass")
        for name in IMPORTED:
            if options[name] is None:
                options[name] = getattr(worker_class, name, None)
        return options

    def prepare_worker_options(self) -> dict[str, Any]:
        """What is passed to the worker: each of its options that has a value."""
        return {name: value for name in self.worker_class.parameters
                if (value := getattr(self.options, name, None)) is not None}

    def execute(self) -> int:
        """Connect, build the worker, and run it (or stop at once with ``--dry-run``)."""
        self.prepare_models()
        self.prepare_logging()
        self.prepare_worker()
        if self.options.print_options:
            self.print_options()
        if self.options.dry_run:
            self.worker.end_forced = True
        self.run()
        return RET_OK

    def prepare_models(self) -> None:
        """Point the models at ``--database`` when given, and check the server answers."""
        models = [BaseJobsModel, self.options.queue_model, self.options.error_model]
        try:
            use_database(self.options.database, models)
        except ConfigurationException as exc:
            self.parser.error(str(exc))
        check_connection(models)

    def prepare_logging(self) -> None:
        """Add a stream handler in the documented format when none handles the worker's logger."""
        setup_logging(self.options.logger_name or self.worker_class.logger_name)

    def prepare_worker(self) -> Any:
        """Create the worker (``self.worker``) from the options; its process title is on unless
        ``--no-title``."""
        self.worker = self.worker_class(**self.prepare_worker_options())
        self.worker.update_title = self.update_title
        self.worker.update_proc_title()
        return self.worker

    def run(self) -> None:
        """Run the worker."""
        self.worker.run()

    def print_options(self) -> None:
        """Write every option, and the value the worker uses, one per line."""
        for setting in OPTIONS:
            if setting in SETTINGS:
                value = getattr(self.worker, setting.name)
            else:
                value = getattr(self.options, setting.name)
            if isinstance(value, type) or callable(value):
                value = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', value)}"
            elif setting.name == "database" and value:
                value = masked(value)  # never print a password
            self.stdout.write(f"{setting.name}: {value}\n")
        self.stdout.flush()
