"""What every command shares: exit codes, the log format, and the ``--database`` option."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from ..connection import describe, settings_from_string
from ..exceptions import ConfigurationException
from ..models import BaseJobsModel

#: Exit codes of the commands.
RET_OK, RET_ERROR, RET_USAGE, RET_CONNECT = 0, 1, 2, 3

LOG_FORMAT = "[%(process)d] %(asctime)s (%(name)s) %(levelname)-8s %(message)s"

DATABASE_HELP = "Redis database to use: host:port:db, or a redis://, rediss:// or unix:// URL"


class CannotConnect(ConfigurationException):
    """The Redis server given to a command does not answer."""


def add_database_argument(parser: argparse.ArgumentParser, **kwargs: Any) -> None:
    """``--database``, as every command takes it (default: ``REDIS_URL``, else localhost:6379 db 0)."""
    parser.add_argument("--database", help=f"{DATABASE_HELP}, e.g. --database=localhost:6379:15", **kwargs)


def use_database(value: str | None, models: Iterable[type] = (BaseJobsModel,)) -> None:
    """Point the databases of these models at ``value`` (host:port:db or a URL), if given.

    Raises ConfigurationException naming ``--database`` when it cannot be read."""
    if not value:
        return
    try:
        settings = settings_from_string(value)
    except ConfigurationException as exc:
        raise ConfigurationException(f"argument --database: {exc}") from None
    for database in _databases(models):
        database.reset(**settings)


def check_connection(models: Iterable[type] = (BaseJobsModel,)) -> None:
    """Check that the Redis of each of these models' databases answers; CannotConnect names it."""
    for database in _databases(models):
        try:
            database.connection.ping()
        except RedisError as exc:
            raise CannotConnect(
                f"cannot connect to Redis at {describe(database.connection_settings)}: {exc}") from None


def _databases(models: Iterable[type]) -> list[Any]:
    return list({id(model.database): model.database for model in models}.values())


def setup_logging(logger_name: str, level: int | None = None) -> None:
    """Add a stream handler in the documented format when none handles the logger."""
    logger = logging.getLogger(logger_name)
    if not logger.hasHandlers():
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)
        if level is not None:
            logger.setLevel(level)


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
