"""``limpyd-jobs-dashboard``: serve the dashboard (``limpyd_jobs.dashboard.create_app``).

Options may come from ``LIMPYD_JOBS_DASHBOARD_<NAME>`` variables (the command line wins) and
``--database`` from ``REDIS_URL``; exit codes as the other commands (docs/operating.rst).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from ..cli.common import (
    RET_OK,
    RET_USAGE,
    add_database_argument,
    check_connection,
    error_line,
    run_command,
    setup_logging,
)
from ..constants import LOGGER_NAME, __version__
from ..databases import use_database
from ..exceptions import ConfigurationException

PROG = "limpyd-jobs-dashboard"
DEFAULT_PORT = 9181
ENV_PREFIX = "LIMPYD_JOBS_DASHBOARD_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
logger = logging.getLogger(f"{LOGGER_NAME}.dashboard")


def _env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name) or None


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parse = argparse.ArgumentParser(
        prog=PROG, description="Serve the limpyd-jobs web dashboard: queues, jobs, workers, schedules.",
        epilog=f"Each option may be set by {ENV_PREFIX}<NAME> ({ENV_PREFIX}TOKEN, {ENV_PREFIX}READ_ONLY=true"
               "...), --database by REDIS_URL; the command line wins.")
    parse.add_argument("--host", default=_env("HOST") or "127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only)")
    parse.add_argument("--port", type=int, default=None, help=f"port to listen on (default: {DEFAULT_PORT})")
    add_database_argument(parse)
    parse.add_argument("--token", default=None,
                       help="require this token (the login form, or an 'Authorization: Bearer' header)")
    parse.add_argument("--basic-auth", metavar="USER:PASS", default=None,
                       help="require HTTP basic auth with this user and password")
    parse.add_argument("--read-only", action="store_true", default=None,
                       help="show everything, do nothing: no action is shown nor accepted")
    parse.add_argument("--allowed-hosts", default=_env("ALLOWED_HOSTS"),
                       help="host names the dashboard answers for, comma-separated ('*': any; default: "
                            "localhost, 127.0.0.1, ::1 and the --host address); others get 400")
    parse.add_argument("--session-lifetime", type=float, default=_env("SESSION_LIFETIME") or "28800",
                       help="seconds a login (--token) lasts (default: 28800, 8 hours)")
    parse.add_argument("--refresh", type=float, default=_env("REFRESH") or "5",
                       help="seconds between two refreshes of the counts on a page (default: 5)")
    parse.add_argument("--log-level", default=_env("LOG_LEVEL") or "INFO", type=str.upper,
                       help=f"{', '.join(LOG_LEVELS)} (default: INFO)")
    parse.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check Redis, and serve until interrupted; the exit code."""
    args = parser().parse_args(argv)
    port_text = str(args.port) if args.port is not None else _env("PORT") or str(DEFAULT_PORT)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        return error_line(PROG, f"argument --port: {port_text!r} is not a port number", RET_USAGE)
    port = int(port_text)
    if args.log_level not in LOG_LEVELS:
        return error_line(PROG, f"argument --log-level: {args.log_level!r} is none of "
                                f"{', '.join(LOG_LEVELS)}", RET_USAGE)
    try:
        from . import create_app
    except ModuleNotFoundError as exc:
        return error_line(PROG, str(exc), RET_USAGE)
    from werkzeug.serving import make_server

    setup_logging(LOGGER_NAME, getattr(logging, args.log_level))
    setup_logging("werkzeug", getattr(logging, args.log_level))
    from ..operations import INTERACTIVE_TIMEOUT, use_timeouts
    from .security import LOCAL_HOSTS

    use_database(args.database)
    use_timeouts(INTERACTIVE_TIMEOUT)  # a hung Redis: a 503 within seconds
    check_connection()
    try:
        hosts = args.allowed_hosts or ",".join([*LOCAL_HOSTS, args.host])
        app = create_app(token=args.token, basic_auth=args.basic_auth, read_only=args.read_only,
                         refresh=args.refresh, allowed_hosts=hosts, session_lifetime=args.session_lifetime)
    except ValueError as exc:  # --basic-auth without a ':' (or its variable)
        raise ConfigurationException(f"argument --basic-auth: {exc}") from None
    settings = app.config["LIMPYD_JOBS_DASHBOARD"]
    if not settings.credentials.required and args.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("listening on %s with no --token nor --basic-auth: whoever reaches it may %s",
                       args.host, "look at every job" if settings.read_only else "act on every queue")
    if not args.allowed_hosts and args.host not in LOCAL_HOSTS:
        logger.warning("answering only for the host names %s: give the name it is reached by with "
                       "--allowed-hosts", ", ".join(sorted(settings.allowed_hosts or ())))
    try:
        server = make_server(args.host, port, app, threaded=True)
    except OSError as exc:  # the port is taken, the address is not this machine's...
        return error_line(PROG, f"cannot listen on {args.host}:{port}: {exc.strerror or exc}", RET_USAGE)
    logger.info("limpyd-jobs dashboard %s on http://%s:%s/ (%s)", __version__, args.host, server.port,
                "read-only" if settings.read_only else "actions allowed")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()  # returns on KeyboardInterrupt: SIGINT, or SIGTERM (_interrupt)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    logger.info("dashboard stopped")
    return RET_OK


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the server as SIGINT does."""
    raise KeyboardInterrupt


def run() -> None:
    """The console script."""
    sys.exit(run_command(PROG, main))


if __name__ == "__main__":
    run()
