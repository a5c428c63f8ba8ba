"""``limpyd-jobs-sweeper``: give back the jobs of dead workers, apart from the workers.

Workers already do it (``recovery_delay``); run this for deployments that want it separate,
or with ``--once`` from cron. When it starts, Redis must answer (else it exits with code 3, on
one line); afterwards it rides out Redis outages as workers do: it logs them, waits for Redis
(asking at most a second apart) and goes on.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import uuid
from collections.abc import Sequence

from redis.exceptions import RedisError

from .. import shards
from ..constants import LOGGER_NAME, __version__
from ..exceptions import ConfigurationException
from ..models import BaseJobsModel, Error
from ..utils import import_string
from ..workers import registry
from ..workers.settings import SETTINGS, clean, flag
from .common import (
    RET_CONNECT,
    RET_OK,
    RET_USAGE,
    CannotConnect,
    add_connection_arguments,
    autocomplete,
    check_connection,
    connect,
    error_line,
    redis_failed,
    setup_logging,
    usage_error,
)

PROG = "limpyd-jobs-sweeper"
logger = logging.getLogger(LOGGER_NAME)

#: The worker options the sweeper takes too.
SWEEPER_SETTINGS = tuple(setting for setting in SETTINGS
                         if setting.name in ("heartbeat_timeout", "lost_job_max_tries", "recovery_delay"))


def make_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Give back the jobs of workers that stopped beating")
    add_connection_arguments(parser)
    for setting in SWEEPER_SETTINGS:  # their LIMPYD_JOBS_* variables too, as the worker reads them
        variable = f"LIMPYD_JOBS_{setting.name.upper()}"
        default = os.environ.get(variable) or setting.default
        parser.add_argument(flag(setting), dest=setting.name, default=default,
                            help=f"{setting.metadata['help']} (default {setting.default}, or {variable})")
    parser.add_argument("--error-model", default="limpyd_jobs.models.Error",
                        help="The Error model in which to save the errors of jobs out of attempts")
    parser.add_argument("--once", action="store_true", help="Sweep once and exit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def sweep(sweeper_id: str, heartbeat_timeout: float, max_tries: int, error_model: type[Error]) -> int:
    """One recovery pass (in each shard); returns the number of jobs given back or failed."""
    return sum(shards.across(lambda: len(registry.recover(
        BaseJobsModel.database, sweeper_id, heartbeat_timeout, max_tries, lock_seconds=0.001,
        error_model=error_model, clock=BaseJobsModel.clock)[1])))


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None, prog: str = PROG) -> int:
    """Run the sweeper (until ``stop`` is set, if given); return the exit code."""
    parser = make_parser(prog)
    try:
        args = parser.parse_args(argv)
        values = {setting.name: clean(setting, getattr(args, setting.name)) for setting in SWEEPER_SETTINGS}
        error_model = import_string(args.error_model)
        connect(args.database, args.config)
    except (ConfigurationException, ImportError) as exc:
        return usage_error(parser, exc)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else RET_USAGE
    setup_logging(LOGGER_NAME, level=logging.INFO)
    sweeper_id = f"sweeper-{uuid.uuid4().hex[:8]}"
    try:
        check_connection()
        if args.once:
            sweep(sweeper_id, values["heartbeat_timeout"], values["lost_job_max_tries"], error_model)
        else:  # outages are ridden out: recovery never stops silently
            interval = values["recovery_delay"] or 15
            logger.info("%s: giving back the jobs of workers silent for %ss, every %ss", sweeper_id,
                        values["heartbeat_timeout"], interval)
            registry.run_sweeper(BaseJobsModel.database, sweeper_id, values["heartbeat_timeout"],
                                 values["lost_job_max_tries"], error_model, interval,
                                 stop or threading.Event(), BaseJobsModel.clock)
        return RET_OK
    except CannotConnect as exc:
        return error_line(prog, exc, RET_CONNECT)
    except RedisError as exc:
        return redis_failed(prog, exc)
    except KeyboardInterrupt:
        return RET_OK


def run() -> None:
    """Console-script entry point."""
    autocomplete(make_parser)
    sys.exit(main())


if __name__ == "__main__":
    run()
