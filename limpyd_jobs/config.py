"""``WorkerConfig``: turns command-line arguments into a configured, running worker.

Subclass it to run setup code first (``django.setup()``...) and pass the subclass to
``limpyd-jobs-worker --worker-config=my.module.MyWorkerConfig``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import IO, Any

from redis.exceptions import RedisError

from . import __version__
from .connection import describe, settings_from_string
from .exceptions import ConfigurationException
from .models import BaseJobsModel
from .options import OPTIONS, WORKER_OPTIONS, Option, clean

LOG_FORMAT = "[%(process)d] %(asctime)s (%(name)s) %(levelname)-8s %(message)s"

#: Exit codes of the command.
RET_OK, RET_ERROR, RET_USAGE, RET_CONNECT = 0, 1, 2, 3


class CannotConnect(ConfigurationException):
    """The Redis server given to the command does not answer."""


def make_parser() -> argparse.ArgumentParser:
    """The ``limpyd-jobs-worker`` argument parser, built from the options table."""
    parser = argparse.ArgumentParser(
        prog="limpyd-jobs-worker", description="Run a worker using limpyd-jobs",
        argument_default=argparse.SUPPRESS,
    )
    for option in OPTIONS:
        _add_option(parser, option)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _add_option(parser: argparse.ArgumentParser, option: Option) -> None:
    example = option.example.replace("%", "%%")
    if option.switch:
        negative = "--no-" + option.flag[2:]
        if not option.only_negative:
            parser.add_argument(option.flag, dest=option.name, action="store_true",
                                help=f"{option.help}, e.g. {example}")
            parser.add_argument(negative, dest=option.name, action="store_false",
                                help=f"Do NOT: {option.help[0].lower()}{option.help[1:]}, e.g. {negative}")
        else:
            parser.add_argument(negative, dest=option.name, action="store_false",
                                help=f"{option.help}, e.g. {example}")
    elif option.default is False:
        parser.add_argument(option.flag, dest=option.name, action="store_true",
                            help=f"{option.help}, e.g. {example}")
    else:
        parser.add_argument(option.flag, dest=option.name, metavar=option.name.upper(),
                            help=f"{option.help}, e.g. {example}")


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
        self.database_settings: dict[str, Any] | None = None
        if self.options.get("database"):
            try:
                self.database_settings = settings_from_string(self.options["database"])
            except ConfigurationException as exc:
                self.parser.error(f"argument --database: {exc}")

    def clean_options(self, parsed: dict[str, Any]) -> dict[str, Any]:
        """Every option of the table, parsed and checked (defaults for those not given)."""
        options = {}
        for option in OPTIONS:
            if option.name in parsed:
                options[option.name] = clean(option, parsed[option.name])
            else:
                options[option.name] = clean(option, option.default)
        if not options["queues"]:
            raise ConfigurationException("argument --queues is required, e.g. --queues=queue1,queue2")
        from .workers import Worker

        worker_class = options["worker_class"]
        if not (isinstance(worker_class, type) and issubclass(worker_class, Worker)):
            raise ConfigurationException(
                f"argument --worker-class: {worker_class!r} is not a Worker subclass"
            )
        return options

    @property
    def worker_kwargs(self) -> dict[str, Any]:
        """What is passed to the worker: every worker option that was given on the command line."""
        given = (option.name for option in WORKER_OPTIONS if option.name in self.given)
        return {name: self.options[name] for name in given}

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
        databases = {id(model.database): model.database for model in models}.values()
        for database in databases:
            if self.database_settings is not None:
                database.reset(**self.database_settings)
            try:
                database.connection.ping()
            except RedisError as exc:
                raise CannotConnect(
                    f"cannot connect to Redis at {describe(database.connection_settings)}: {exc}"
                ) from None

    def prepare_logging(self) -> None:
        """Add a stream handler in the documented format when none handles the worker's logger."""
        logger = logging.getLogger(self.options["logger_name"])
        if not logger.hasHandlers():
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            logger.addHandler(handler)

    def prepare_worker(self) -> Any:
        """Create the worker from the options, with the process title on unless ``--no-title``."""
        worker = self.worker_class(**self.worker_kwargs)
        worker.update_title = self.options["title"]
        worker.update_proc_title()
        return worker

    def print_options(self, worker: Any) -> None:
        """Write every option, and the value the worker uses, one per line."""
        for option in OPTIONS:
            if option.worker:
                value = getattr(worker, option.name)
            else:
                value = self.options.get(option.name, getattr(self, option.name, None))
            if isinstance(value, type) or callable(value):
                value = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', value)}"
            self.stdout.write(f"{option.name}: {value}\n")
        self.stdout.flush()
