"""What every command shares: exit codes, errors, imports, logging, and the ``--database`` option."""

from __future__ import annotations

import argparse
import configparser
import difflib
import importlib
import json
import logging
import logging.config
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as DroppedConnection
from redis.exceptions import RedisError
from redis.retry import Retry

from ..connection import client_for, describe
from ..databases import databases_of, use_database
from ..exceptions import ConfigurationException
from ..logs import JsonFormatter, TextFormatter
from ..models import BaseJobsModel

#: Exit codes of the commands: done; failed; misused (an option, REDIS_URL, a file); Redis does
#: not answer; something to import (a callback, a class) cannot be.
RET_OK, RET_ERROR, RET_USAGE, RET_CONNECT, RET_IMPORT = 0, 1, 2, 3, 4

LOG_FORMAT = "[%(process)d] %(asctime)s (%(name)s) %(levelname)-8s %(message)s"
#: The values of ``--log-format``.
LOG_FORMATS = ("text", "json")

DATABASE_HELP = ("Redis database to use: host:port:db, or a redis://, rediss://, unix://, "
                 "redis+sentinel://host:port[,host:port]/service/db or redis+cluster:// URL")
#: What every command reads when ``--database`` / ``--config`` are not given.
DATABASE_VARIABLE, CONFIG_VARIABLE = "LIMPYD_JOBS_DATABASE", "LIMPYD_JOBS_CONFIG"
#: The section of a ``--config`` INI file that every command reads (``database = URL``).
SHARED_SECTION = "limpyd-jobs"


class CannotConnect(ConfigurationException):
    """The Redis server given to a command does not answer."""


class CannotImport(ConfigurationException):
    """Something a command was told to import (a callback, a class) cannot be imported."""


def import_object(what: str, path: str) -> Any:
    """Import ``package.module.name`` (or ``module.Class.attribute``) given for ``what`` ("callback"...).

    CannotImport says on one line why not (missing, raising while imported, no such name)."""
    module_path, _, name = path.rpartition(".")
    if not module_path or not name:
        raise ConfigurationException(f"{what} {path!r} is not a dotted path like 'package.module.name'")
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module, then attributes
        module_path, names = ".".join(parts[:cut]), parts[cut:]
        try:
            found = importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if cut > 1 and exc.name is not None and module_path.startswith(exc.name):
                continue  # not a module: maybe a class holding the attribute
            raise CannotImport(f"cannot import {what} {path!r}: {one_line(exc)}") from None
        except Exception as exc:  # whatever the module raises while imported: ImportError, SyntaxError...
            raise CannotImport(f"cannot import {what} {path!r}: {one_line(exc)}") from None
        reached = module_path
        for attribute in names:
            try:
                found = getattr(found, attribute)
            except AttributeError:
                owner = f"module {reached!r}" if reached == module_path else repr(reached)
                raise CannotImport(f"cannot import {what} {path!r}: {owner} has no attribute "
                                   f"{attribute!r}") from None
            reached += f".{attribute}"
        return found
    raise CannotImport(f"cannot import {what} {path!r}")  # pragma: no cover - the loop returns or raises


def import_module(what: str, name: str) -> Any:
    """Import module ``name`` given for ``what`` ("job module"...); CannotImport says why not."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # whatever the module raises while imported: ImportError, SyntaxError...
        raise CannotImport(f"cannot import {what} {name!r}: {one_line(exc)}") from None


def raised_by_an_import(error: BaseException) -> bool:
    """Whether ``error`` was raised by an import (ImportError, SyntaxError, or a module's code).

    A module's own code raising while imported shows importlib in the traceback."""
    if isinstance(error, (ImportError, SyntaxError)):
        return True
    return any(frame.f_code.co_filename.startswith("<frozen importlib")
               for frame, _ in traceback.walk_tb(error.__traceback__))


def one_line(error: BaseException) -> str:
    """``Type: message`` of an exception, on one line."""
    return " ".join(f"{type(error).__name__}: {error}".split())


def error_line(program: str, error: Exception | str, code: int = RET_USAGE) -> int:
    """Write ``program: error: ...`` on one line of stderr; return ``code``."""
    message = " ".join(str(error).split())
    sys.stderr.write(f"{program}: error: {message}\n")
    sys.stderr.flush()
    return code


def run_command(program: str, command: Callable[[], int]) -> int:
    """Call ``command``; its exit code, or the code of the start-up error said on one line.

    SystemExit (argparse, ``WorkerConfig.fail``), CannotConnect, CannotImport and
    ConfigurationException have their codes; anything else is raised."""
    try:
        return command()
    except BrokenPipeError:  # the reader went away (``| head``): no traceback, nothing more to say
        return reader_gone()
    except SystemExit as exc:  # argparse (usage, --help, --version) or WorkerConfig.fail
        if exc.code is None:
            return RET_OK
        return exc.code if isinstance(exc.code, int) else error_line(program, exc.code)
    except CannotConnect as exc:
        return error_line(program, exc, RET_CONNECT)
    except CannotImport as exc:
        return error_line(program, exc, RET_IMPORT)
    except ConfigurationException as exc:  # a value the worker itself refused
        return error_line(program, exc, RET_USAGE)


def reader_gone() -> int:
    """After a BrokenPipeError on stdout: point it at /dev/null (no error at exit); RET_OK."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor behind stdout (a test's buffer)
        pass
    return RET_OK


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, with the closest option to a mistyped one.

    No usage before the error: ``--help`` shows it."""

    def error(self, message: str) -> NoReturn:
        unknown = message.partition("unrecognized arguments: ")[2].split()
        options = [option for action in self._actions for option in action.option_strings]
        for argument in unknown:
            close = difflib.get_close_matches(argument.split("=", 1)[0], options, n=1)
            if close:
                message += f" (did you mean {close[0]}?)"
                break
        self.exit(RET_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def add_database_argument(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``--database``, as every command takes it (default: ``REDIS_URL``, else localhost:6379 db 0)."""
    parser.add_argument("--database", help=f"{DATABASE_HELP}, e.g. --database=localhost:6379:15 "
                        f"(default: {DATABASE_VARIABLE}, the --config file's, REDIS_URL)", **kwargs)


def add_config_argument(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``--config``, an INI file whose ``[limpyd-jobs]`` section may give ``database``."""
    parser.add_argument("--config", help=f"an INI file; its [{SHARED_SECTION}] section may give database "
                        f"(default: {CONFIG_VARIABLE})", **kwargs)


def add_connection_arguments(parser: argparse.ArgumentParser, subcommand: bool = False) -> None:
    """``--database`` and ``--config``; on a subcommand, they do not hide the values given before it."""
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if subcommand else {}
    add_database_argument(parser, **extra)
    add_config_argument(parser, **extra)


def database_value(given: str | None, config: str | None = None,
                   environ: Mapping[str, str] | None = None) -> str | None:
    """The ``--database`` text of every command (None: ``REDIS_URL``).

    Given, else ``LIMPYD_JOBS_DATABASE``, else the ``database`` of the ``--config`` file (or
    ``LIMPYD_JOBS_CONFIG``'s): one function, so that every command reads it alike."""
    environ = os.environ if environ is None else environ
    if given:
        return given
    if environ.get(DATABASE_VARIABLE):
        return environ[DATABASE_VARIABLE]
    path = config or environ.get(CONFIG_VARIABLE)
    if not path:
        return None
    parser = read_ini(path, f"argument --config: {path!r}")
    for section in (SHARED_SECTION, "limpyd-jobs-worker"):
        if parser.has_option(section, "database"):
            return parser.get(section, "database").strip() or None
    return None


def connect(given: str | None, config: str | None = None) -> None:
    """Point the models at the database of ``database_value`` (ConfigurationException if unusable)."""
    use_database(database_value(given, config))


def autocomplete(build: Callable[[], argparse.ArgumentParser]) -> None:
    """Shell completion by ``argcomplete``, when installed and asked for by the shell.

    ``build`` makes the parser only then (argcomplete then exits): no cost otherwise."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(build())


def check_connection(models: Iterable[type] = (BaseJobsModel,)) -> None:
    """Check that the Redis of each of these models' databases answers; CannotConnect names it."""
    for database in databases_of(models):
        try:
            _ping_once(database.connection_settings)
        except RedisError as exc:
            raise CannotConnect(
                f"cannot connect to Redis at {describe(database.connection_settings)}: {exc}") from None


def _ping_once(settings: dict[str, Any]) -> None:
    """PING with a client of its own that retries a dropped connection twice at once, no more.

    A refused connection is said at once (redis-py's pool retries with backoff for seconds), a
    timeout too; a connection reset once (a flaky network) does not stop a command from starting."""
    client = client_for(settings, retry=Retry(NoBackoff(), 2, supported_errors=(DroppedConnection,)))
    try:
        client.ping()
    finally:
        client.close()


def setup_logging(logger_name: str, level: int | None = None, log_format: str = "text") -> None:
    """Add a stream handler, in text or JSON lines, when none handles the logger.

    ``json``: ``limpyd_jobs.logs.JsonFormatter``; ``text``: the documented format."""
    logger = logging.getLogger(logger_name)
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(LOG_FORMAT))
        logger.addHandler(handler)
        if level is not None:
            logger.setLevel(level)


def configure_logging(path: str) -> None:
    """Configure logging from a JSON file given to ``logging.config.dictConfig``.

    Loggers that exist are kept unless it says ``"disable_existing_loggers": true``."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except OSError as exc:
        raise ConfigurationException(f"argument --log-config: cannot read {path!r}: "
                                     f"{exc.strerror or exc}") from None
    except ValueError as exc:  # not JSON, or not UTF-8
        raise ConfigurationException(f"argument --log-config: {path!r} is not a JSON file: {exc}") from None
    if not isinstance(config, dict):
        raise ConfigurationException(f"argument --log-config: {path!r} holds no JSON object (a dictConfig)")
    config.setdefault("version", 1)
    config.setdefault("disable_existing_loggers", False)
    try:
        logging.config.dictConfig(config)
    except (ValueError, TypeError, AttributeError, ImportError, KeyError) as exc:
        reason = f"{exc}: {exc.__cause__}" if exc.__cause__ else str(exc)
        raise ConfigurationException(f"argument --log-config: {path!r}: {reason}") from None


def redis_failed(program: str, error: Exception) -> int:
    """Say which Redis a command could not use, and why; return the exit code for it."""
    where = describe(BaseJobsModel.database.connection_settings)
    sys.stderr.write(f"{program}: error: Redis at {where}: {error}\n")
    return RET_CONNECT


def usage_error(parser: argparse.ArgumentParser, error: Exception) -> int:
    """Print the usage and the error, as argparse does; return the exit code for misuse."""
    parser.print_usage(sys.stderr)
    sys.stderr.write(f"{parser.prog}: error: {error}\n")
    return RET_USAGE


def read_ini(path: str, label: str) -> configparser.ConfigParser:
    """The INI file at ``path``; ConfigurationException, starting with ``label``, says why not."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigurationException(f"{label}: cannot read it: {exc.strerror or exc}") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigurationException(f"{label} is not an INI file: {one_line(exc)}") from None
    return parser
