"""``WorkerConfig``: turns command-line arguments into a configured, running worker.

Subclass it to run setup code first, and name it with ``--worker-config=my.module.MyConfig``
(``limpyd_jobs.workers`` exports it, as redis-limpyd-jobs documents). Options come from the
command line, else ``LIMPYD_JOBS_<OPTION>``, else the ``--config`` file (docs/worker.rst).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import Field, dataclass, fields
from datetime import timedelta
from typing import IO, Any, NoReturn

import limpyd

from .. import shards
from ..connection import masked, settings_from_string
from ..constants import __version__
from ..databases import use_database
from ..exceptions import ConfigurationException
from ..models import BaseJobsModel
from ..workers.settings import (
    OBJECT_OPTIONS,
    SETTINGS,
    boolean,
    choice,
    clean,
    flag,
    importable,
    integer,
    log_level,
    object_problem,
    option,
    text,
)
from ..workers.worker import Worker
from .common import (
    DATABASE_HELP,
    LOG_FORMATS,
    RET_IMPORT,
    RET_OK,
    RET_USAGE,
    SHARED_SECTION,
    CannotImport,
    OneLineParser,
    check_connection,
    configure_logging,
    error_line,
    import_module,
    import_object,
    one_line,
    raised_by_an_import,
    read_ini,
    setup_logging,
)
from .pool import WorkerPool


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
    config: str | None = option(
        None, text, "An INI file of options: a [limpyd-jobs-worker] section, its keys the option names "
        "(the command line and LIMPYD_JOBS_* environment variables win)", "--config=/etc/worker.ini")
    log_format: str = option(
        "text", choice(*LOG_FORMATS), "The format of the logs: text lines, or json (one object per line)",
        "--log-format=json")
    log_config: str | None = option(
        None, text, "A JSON file given to logging.config.dictConfig, in place of our handler",
        "--log-config=logging.json")
    processes: int = option(
        1, integer(1), "Worker processes to run, each with these options, under a supervisor that restarts "
        "them (1: one worker, no supervisor; see limpyd_jobs.cli.pool)", "--processes=4")


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
_OPTIONS_BY_NAME = {setting.name: setting for setting in OPTIONS}
#: Options whose value is an object to import (given as a dotted path).
IMPORTED = ("worker_config", "worker_class", "queue_model", "error_model", "callback")
#: Environment variables of the options: ``LIMPYD_JOBS_MAX_LOOPS`` for ``max_loops``.
ENV_PREFIX = "LIMPYD_JOBS_"
#: The section of the ``--config`` INI file read by the command.
CONFIG_SECTION = "limpyd-jobs-worker"
#: What "(default: ...)" says in ``--help`` for options whose default value tells nothing.
DEFAULT_TEXTS = {
    "callback": "the job's run method",
    "database": "REDIS_URL if set, else localhost:6379:0",
}


def environment_variable(setting: Field) -> str:
    """The environment variable of an option: ``LIMPYD_JOBS_MAX_LOOPS`` for ``max_loops``."""
    return ENV_PREFIX + setting.name.upper()


def read_config_file(path: str) -> dict[str, str]:
    """The options of an INI file's ``[limpyd-jobs-worker]`` section (and ``[limpyd-jobs]`` database).

    Keys may use dashes or underscores; ConfigurationException names the file and what is wrong."""
    parser = read_ini(path, f"argument --config: {path!r}")
    if not parser.has_section(CONFIG_SECTION) and not parser.has_option(SHARED_SECTION, "database"):
        raise ConfigurationException(f"argument --config: {path!r} has no [{CONFIG_SECTION}] section")
    names = {setting.name for setting in OPTIONS} - {"config"}
    values: dict[str, str] = {}
    shared = ({"database": parser.get(SHARED_SECTION, "database")}  # what every command reads
              if parser.has_option(SHARED_SECTION, "database") else {})
    if not parser.has_section(CONFIG_SECTION):
        return shared
    for key, value in parser.items(CONFIG_SECTION):
        name = key.strip().replace("-", "_")
        if name not in names:
            raise ConfigurationException(
                f"argument --config: unknown option {key!r} in [{CONFIG_SECTION}] of {path!r}")
        if name in values:
            raise ConfigurationException(
                f"argument --config: option {name!r} given twice in [{CONFIG_SECTION}] of {path!r}")
        values[name] = value
    return {**shared, **values}


def configured_values(given: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Name -> (text, where read) of the options not in ``given`` set by ``LIMPYD_JOBS_*`` or the file.

    The file is the ``--config`` given, else ``LIMPYD_JOBS_CONFIG``'s; empty variables are unset."""
    found: dict[str, tuple[str, str]] = {}
    for setting in OPTIONS:
        variable = environment_variable(setting)
        if environ.get(variable):
            found[setting.name] = (environ[variable], variable)
    path = given.get("config") or found.get("config", (None,))[0]
    if path:
        for name, value in read_config_file(path).items():
            found.setdefault(name, (value, f"{name} in {path}"))
    return {name: found[name] for name in found if name not in given}


def default_text(setting: Field) -> str | None:
    """What ``--help`` says of an option's default, or None when its help says it already."""
    meta = setting.metadata
    if setting.name in DEFAULT_TEXTS:
        return DEFAULT_TEXTS[setting.name]
    if "default" in meta["help"].lower():
        return None
    default = setting.default
    if isinstance(default, bool):  # whether the flag shown (--x, or --no-x) is in effect
        return "on" if default != meta["only_negative"] else "off"
    if default is None or default in ((), []):
        return "no limit" if "no limit" in meta["help"].lower() else "none"
    if isinstance(default, type) or callable(default):
        return f"{default.__module__}.{default.__qualname__}"
    if meta["parse"] is log_level and isinstance(default, int):
        return logging.getLevelName(default)
    if isinstance(default, (list, tuple)):
        return ",".join(str(value) for value in default)
    return str(default)


class SeedHelpFormatter(argparse.HelpFormatter):
    """argparse's help, its usage line starting ``Usage:`` as in the seed's ``--help``."""

    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, "Usage: " if prefix is None else prefix)


def make_parser(prog: str = "limpyd-jobs-worker", version: str = "") -> argparse.ArgumentParser:
    """The ``limpyd-jobs-worker`` argument parser, built from the options."""
    parser = OneLineParser(prog=prog, description="Run a worker using limpyd-jobs", allow_abbrev=False,
                                     argument_default=argparse.SUPPRESS, formatter_class=SeedHelpFormatter)
    for setting in OPTIONS:
        _add_option(parser, setting)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} {version}".rstrip())
    return parser


def _add_option(parser: argparse.ArgumentParser, setting: Field) -> None:
    name, meta = setting.name, setting.metadata
    described = f"{meta['help']}, e.g. {meta['example']}"
    if name == "queues":
        described += " (required, unless the worker class has queues)"
    elif (default := default_text(setting)) is not None:
        described += f" (default: {default})"
    described = described.replace("%", "%%")
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
    """Parse the command line (``argv`` as ``sys.argv``), then build and run its worker (``execute``).

    ``options`` holds every option by name, as redis-limpyd-jobs' did (None: not given, the worker's
    default); ``sources`` says where those not from the command line were read (docs/worker.rst)."""

    help = "Run a worker using limpyd-jobs"

    def __init__(self, argv: Sequence[str] | None = None, stdout: IO[str] | None = None) -> None:
        argv = [arg for arg in (sys.argv if argv is None else argv) if arg != ""]  # "" is no argument
        if argv and not argv[0].startswith("-"):  # the program name, as in sys.argv
            self.prog_name, argv = os.path.basename(argv[0]), argv[1:]
        else:
            self.prog_name = "limpyd-jobs-worker"
        self.argv = argv
        self.stdout = stdout or sys.stdout
        self.worker: Any = None
        self.sources: dict[str, str] = {}
        self.manage_options()

    def get_version(self) -> str:
        """The versions shown by ``--version`` after the program's own."""
        return f"(limpyd-jobs {__version__}, redis-limpyd {limpyd.EXACT_VERSION})"

    def create_parser(self) -> argparse.ArgumentParser:
        """The parser of the command line."""
        return make_parser(self.prog_name, self.get_version())

    def manage_options(self) -> None:
        """Parse ``argv`` into ``options``, the environment and ``--config`` filling the gaps.

        Exits with the error on one line when a value cannot be used."""
        self.parser = self.create_parser()
        given = vars(self.parser.parse_args(self.argv))
        try:
            given = self.read_configuration(given)
            self.given = set(given)
            self.options = argparse.Namespace(**self.clean_options(given))
        except CannotImport as exc:
            self.fail(exc, RET_IMPORT)
        except ConfigurationException as exc:
            self.fail(exc)
        self.worker_class = self.options.worker_class
        self.update_title = self.options.update_title
        self.database_config = self.read_database_config()

    def read_database_config(self) -> dict[str, Any] | None:
        """The connection settings of ``--database`` (None when not given), as redis-limpyd-jobs kept them.

        Exits with the one-line error when it cannot be read."""
        if not self.options.database:
            return None
        try:
            return settings_from_string(self.options.database)
        except ConfigurationException as exc:
            self.fail(self._from_source("database", f"argument --database: {exc}"))

    def read_configuration(self, given: dict[str, Any],
                           environ: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``given``, with the options it lacks that ``LIMPYD_JOBS_*`` or ``--config`` set, as text.

        ``sources`` then tells where those were read."""
        found = configured_values(given, os.environ if environ is None else environ)
        self.sources = {name: where for name, (_, where) in found.items()}
        return {**given, **{name: value for name, (value, _) in found.items()}}

    def fail(self, error: Exception | str, code: int = RET_USAGE) -> NoReturn:
        """Write the error on one line of stderr, and exit with ``code``."""
        error_line(self.prog_name, error, code)
        raise SystemExit(code)

    def clean_options(self, given: dict[str, Any]) -> dict[str, Any]:
        """Every option, parsed and checked from the values given (None: not given).

        ``queues`` stays the text given, as redis-limpyd-jobs kept it; the command's options and
        the classes have their defaults."""
        options = {setting.name: self._clean_given(setting, given[setting.name]) if setting.name in given
                   else None for setting in OPTIONS}
        options["queues"] = given.get("queues") or None
        for setting in COMMAND_SETTINGS:
            if options[setting.name] is None:
                options[setting.name] = clean(setting, setting.default)
        worker_class = options["worker_class"]
        if not (isinstance(worker_class, type) and issubclass(worker_class, Worker)):
            raise ConfigurationException(self._from_source(
                "worker_class", f"argument --worker-class: {worker_class!r} is not a Worker subclass"))
        for name in OBJECT_OPTIONS:
            problem = object_problem(name, options[name]) if options[name] is not None else None
            if problem:
                shown = given[name] if name == "callback" else options[name]  # a callback: its path
                said = f"{shown!r} {problem}"
                if name == "callback":  # redis-limpyd-jobs' words first
                    detail = problem.removeprefix("is not callable ")
                    said = f"The callback is not callable: {shown!r} {detail}"
                raise ConfigurationException(self._from_source(
                    name, f"argument {flag(_OPTIONS_BY_NAME[name])}: {said}"))
        for name in IMPORTED:
            if options[name] is None:
                options[name] = getattr(worker_class, name, None)
        for module in options["job_modules"] or getattr(worker_class, "job_modules", None) or ():
            try:
                import_module("job module", module)
            except CannotImport as exc:
                raise CannotImport(self._from_source("job_modules", str(exc))) from None
        return options

    def _clean_given(self, setting: Field, value: Any) -> Any:
        """``clean`` a value given for an option, importing it first if it names an object.

        The error names where the value was read when not on the command line."""
        try:
            if setting.name in IMPORTED and isinstance(value, str):
                try:
                    value = import_object(setting.name.replace("_", " "), value)
                except CannotImport as exc:  # the reason, in redis-limpyd-jobs' words
                    reason = str(exc).split(f"{value!r}: ", 1)[-1]
                    raise CannotImport(f'argument {flag(setting)}: Unable to import "{setting.name}" '
                                       f"from {value!r}: {reason}") from None
            cleaned = clean(setting, value)
            # the worker keeps a timedelta; the options, the seconds given (as redis-limpyd-jobs)
            return cleaned.total_seconds() if isinstance(cleaned, timedelta) else cleaned
        except ConfigurationException as exc:  # ``clean`` keeps what it turned into one as the context
            kind = CannotImport if isinstance(exc.__context__, ImportError) else type(exc)
            raise kind(self._from_source(setting.name, str(exc))) from None
        except Exception as exc:  # an option whose parser imports (--never-retry...): a broken module
            if not raised_by_an_import(exc):
                raise
            message = f"argument {flag(setting)}: cannot import {value!r}: {one_line(exc)}"
            raise CannotImport(self._from_source(setting.name, message)) from None

    def _from_source(self, name: str, message: str) -> str:
        """``message``, about option ``name``, saying where it was read if not on the command line."""
        source = getattr(self, "sources", {}).get(name)
        if not source:
            return message
        option_flag = flag(_OPTIONS_BY_NAME[name])
        for prefix in (f"argument {option_flag}", f"option {option_flag}"):
            if message.startswith(f"{prefix}:"):
                return source + message[len(prefix):]
        if f"({option_flag})" in message:
            return message.replace(f"({option_flag})", f"({source})", 1)
        return f"{message} (set by {source})"

    def prepare_worker_options(self) -> dict[str, Any]:
        """The options passed to the worker: those with a value, or given as None.

        ``--max-loops=None`` means no limit: None given is not None omitted."""
        given = getattr(self, "given", set())
        return {name: value for name in self.worker_class.parameters
                if (value := getattr(self.options, name, None)) is not None or name in given}

    def check_queues(self) -> None:
        """Exit with the one-line error when neither the options nor the worker class name queues.

        Building the worker needs them; parsing the command line does not (a class may carry them)."""
        if not self.options.queues and not getattr(self.worker_class, "queues", None):
            self.fail("argument --queues is required, e.g. --queues=queue1,queue2 (or "
                      f"{ENV_PREFIX}QUEUES, or queues in the --config file, or on the worker class)")

    def execute(self) -> int:
        """Connect, build the worker and run it (``--dry-run``: stop at once); the exit code.

        With ``--processes`` above 1, a ``WorkerPool`` checks that once, then runs that many."""
        self.check_queues()
        processes = getattr(self.options, "processes", 1) or 1
        if processes > 1:
            return WorkerPool(self, processes).run()
        self.prepare_models()
        self.prepare_logging()
        self.prepare_worker()
        if len(shards.shards_of(self.worker.queues)) > 1:  # a worker serves one shard: one for each
            self.worker = None
            return WorkerPool(self, 1).run()
        if self.options.print_options:  # print, and do not run
            self.print_options()
            return RET_OK
        self.run()
        return RET_OK

    def prepare_models(self) -> None:
        """Point the models at ``--database`` (else ``REDIS_URL``) and check the server answers.

        Exits with the error on one line when either cannot be used."""
        models = [BaseJobsModel, self.options.queue_model, self.options.error_model]
        try:
            use_database(self.options.database, models)
        except ConfigurationException as exc:
            self.fail(self._from_source("database", str(exc)))
        check_connection(models)

    def prepare_logging(self) -> None:
        """Configure logging from ``--log-config``, else a handler in the ``--log-format``.

        The handler is added only when none handles the worker's logger."""
        if self.options.log_config:
            try:
                configure_logging(self.options.log_config)
            except ConfigurationException as exc:
                self.fail(self._from_source("log_config", str(exc)))
            return
        setup_logging(self.options.logger_name or self.worker_class.logger_name,
                      log_format=self.options.log_format or "text")

    def prepare_worker(self) -> Any:
        """Create the worker (``self.worker``) from the options; its title on unless ``--no-title``."""
        self.check_queues()
        self.worker = self.worker_class(**self.prepare_worker_options())
        if self.options.dry_run:
            self.worker.end_forced = True
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
