"""What every command shares: exit codes, errors, imports, logging, and the ``--database`` option."""

from __future__ import annotations

import argparse
import configparser
import importlib
import json
import logging
import logging.config
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from redis.exceptions import RedisError

from ..connection import describe
from ..databases import databases_of
from ..exceptions import ConfigurationException
from ..logs import JsonFormatter
from ..models import BaseJobsModel

#: Exit codes of the commands: done; failed; misused (an option, REDIS_URL, a file); Redis does
#: not answer; something to import (a callback, a class) cannot be.
RET_OK, RET_ERROR, RET_USAGE, RET_CONNECT, RET_IMPORT = 0, 1, 2, 3, 4

LOG_FORMAT = "[%(process)d] %(asctime)s (%(name)s) %(levelname)-8s %(message)s"
#: The values of ``--log-format``.
LOG_FORMATS = ("text", "json")

DATABASE_HELP = ("Redis database to use: host:port:db, or a redis://, rediss://, unix:// or "
                 "redis+sentinel://host:port[,host:port]/service/db URL")


class CannotConnect(ConfigurationException):
    """The Redis server given to a command does not answer."""


class CannotImport(ConfigurationException):
    """Something a command was told to import (a callback, a class) cannot be imported."""


def import_object(what: str, path: str) -> Any:
    """Import ``package.module.name`` given for ``what`` ("callback", "worker class"...).

    CannotImport says why, in one line, when the module is missing, raises while imported
    (a SyntaxError too) or lacks the name; ConfigurationException when ``path`` is no dotted path."""
    module_path, _, name = path.rpartition(".")
    if not module_path or not name:
        raise ConfigurationException(f"{what} {path!r} is not a dotted path like 'package.module.name'")
    try:
        module = importlib.import_module(module_path)
    except Exception as exc:  # whatever the module raises while imported: ImportError, SyntaxError...
        raise CannotImport(f"cannot import {what} {path!r}: {one_line(exc)}") from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise CannotImport(f"cannot import {what} {path!r}: module {module_path!r} has no attribute "
                           f"{name!r}") from None


def import_module(what: str, name: str) -> Any:
    """Import module ``name`` given for ``what`` ("job module"...); CannotImport says why not."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # whatever the module raises while imported: ImportError, SyntaxError...
        raise CannotImport(f"cannot import {what} {name!r}: {one_line(exc)}") from None


def raised_by_an_import(error: BaseException) -> bool:
    """Whether ``error`` was raised by an import: an ImportError, a SyntaxError, or anything raised
    by the code of a module being imported (its traceback goes through importlib)."""
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
    """Call ``command`` and return its exit code; a start-up error is said on one line of stderr
    and returns its code (``SystemExit``: argparse or ``WorkerConfig.fail``; RET_CONNECT, RET_IMPORT,
    RET_USAGE for the errors of those names). Anything else is raised."""
    try:
        return command()
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


def add_database_argument(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``--database``, as every command takes it (default: ``REDIS_URL``, else localhost:6379 db 0)."""
    parser.add_argument("--database", help=f"{DATABASE_HELP}, e.g. --database=localhost:6379:15", **kwargs)


def check_connection(models: Iterable[type] = (BaseJobsModel,)) -> None:
    """Check that the Redis of each of these models' databases answers; CannotConnect names it."""
    for database in databases_of(models):
        try:
            database.connection.ping()
        except RedisError as exc:
            raise CannotConnect(
                f"cannot connect to Redis at {describe(database.connection_settings)}: {exc}") from None


def setup_logging(logger_name: str, level: int | None = None, log_format: str = "text") -> None:
    """Add a stream handler when none handles the logger: lines in the documented format
    (``text``), or JSON objects (``json``, see ``limpyd_jobs.logs.JsonFormatter``)."""
    logger = logging.getLogger(logger_name)
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
        if level is not None:
            logger.setLevel(level)


def configure_logging(path: str) -> None:
    """Configure logging from a JSON file given to ``logging.config.dictConfig`` (loggers that
    exist are kept unless it says ``"disable_existing_loggers": true``).

    Raises ConfigurationException naming ``--log-config`` and the file when it cannot be used."""
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
    """The INI file at ``path``; ConfigurationException (its text starting with ``label``, which
    names the file) says why it cannot be read."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigurationException(f"{label}: cannot read it: {exc.strerror or exc}") from None
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigurationException(f"{label} is not an INI file: {one_line(exc)}") from None
    return parser
