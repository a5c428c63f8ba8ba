"""``limpyd-jobs schedule`` (alias ``limpyd-jobs-schedule``): recurring jobs, as redbike's command.

Reads the arguments and redbike's configuration file, then calls ``limpyd_jobs.recurring``. A
prefix in the file must be known before limpyd_jobs is imported: the command then starts itself
again with ``LIMPYD_JOBS_PREFIX`` set. Commands, configuration, exit codes: docs/recurring.rst.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from typing import Any

from limpyd.exceptions import DoesNotExist
from redis.exceptions import RedisError

from ..connection import DEFAULT_SETTINGS, settings_from_url
from ..constants import LOGGER_NAME, __version__
from ..databases import use_database
from ..exceptions import ConfigurationException
from ..models import BaseJobsModel
from ..protocol.vocabulary import KEYS, PREFIX_VARIABLE, Keys
from ..recurring import scheduler
from ..recurring.rules import BadSchedule, parse, time_zone
from ..validation import clean_seconds
from .common import (
    DATABASE_HELP,
    DATABASE_VARIABLE,
    RET_CONNECT,
    RET_OK,
    RET_USAGE,
    CannotConnect,
    autocomplete,
    check_connection,
    database_value,
    error_line,
    read_ini,
    redis_failed,
    setup_logging,
)

PROG = "limpyd-jobs-schedule"
#: The configuration file read when no ``--config`` is given, if the current directory has one.
DEFAULT_CONFIG = ".redbike.conf"
#: The sections of settings and of the connection: redbike's, then ours (which win).
SECTIONS = ("redbike", "limpyd-jobs-schedule")
REDIS_SECTIONS = ("redbike-redis", "limpyd-jobs-redis")
#: Keys of a settings section that are not used here (redbike's worker class).
IGNORED_KEYS = ("worker",)
#: Statuses: redbike's ``JOBID,EVENT:TIMESTAMP``, or three columns.
STATUS_FORMATS = ("redbike", "columns", "readable")
AFTER = "default: the time in the timefile, else now"
_TZID = re.compile(r"DTSTART;TZID=([^:;]+):", re.IGNORECASE)
logger = logging.getLogger(LOGGER_NAME)


def _seconds(value: str) -> float:
    """A number of seconds above 0 (``--timeout``, ``default-timeout``, ``interval``)."""
    return clean_seconds(value, zero=False, name="a duration")


def _positive(value: str) -> float:
    """``type=`` of the options in seconds."""
    try:
        return _seconds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _boolean(value: str) -> bool:
    """A boolean as INI files write them."""
    try:
        return configparser.ConfigParser.BOOLEAN_STATES[value.strip().lower()]
    except KeyError:
        raise ValueError(f"{value!r} is not a boolean (yes/no, true/false, on/off, 1/0)") from None


def _prefix(value: str) -> str:
    """A key prefix (``LIMPYD_JOBS_PREFIX``)."""
    Keys(value)  # ValueError for characters a key prefix should not hold
    return value


#: The settings of ``[redbike]`` and ``[limpyd-jobs-schedule]``, and how to read them.
SETTING_TYPES: dict[str, Callable[[str], Any]] = {
    "prefix": _prefix, "timefile": str, "default-timeout": _seconds, "interval": _seconds,
}
#: The keyword arguments of ``redis.StrictRedis`` a connection section may give (and ``url``).
REDIS_TYPES: dict[str, Callable[[str], Any]] = {
    "url": str, "host": str, "port": int, "db": int, "username": str, "password": str,
    "unix_socket_path": str, "socket_timeout": float, "socket_connect_timeout": float,
    "socket_keepalive": _boolean, "retry_on_timeout": _boolean, "health_check_interval": float,
    "client_name": str, "max_connections": int, "protocol": int, "encoding": str, "encoding_errors": str,
    "ssl": _boolean, "ssl_keyfile": str, "ssl_certfile": str, "ssl_cert_reqs": str, "ssl_ca_certs": str,
    "ssl_ca_path": str, "ssl_check_hostname": _boolean, "ssl_password": str,
}


@dataclass
class Config:
    """What the configuration file says (nothing, when there is none)."""

    path: str | None = None
    prefix: str | None = None
    timefile: str | None = None
    default_timeout: float | None = None
    interval: float | None = None
    #: ``redis.StrictRedis`` keyword arguments (a ``url`` read into them).
    redis: dict[str, Any] = field(default_factory=dict)


def read_config(path: str | None) -> Config:
    """The configuration of ``path``, else of ``./.redbike.conf`` if any (none: empty).

    ConfigurationException says what is wrong with it."""
    if path is None:
        if not os.path.exists(DEFAULT_CONFIG):
            return Config()
        path = DEFAULT_CONFIG
    parser = read_ini(path, f"configuration {path!r}")
    if not any(parser.has_section(name) for name in (*SECTIONS, *REDIS_SECTIONS)):
        raise ConfigurationException(
            f"configuration {path!r} has none of the sections [redbike], [redbike-redis], "
            f"[limpyd-jobs-schedule], [limpyd-jobs-redis]")
    config = Config(path=path)
    for name in SECTIONS:
        for key, value in _section(parser, path, name, SETTING_TYPES).items():
            setattr(config, key.replace("-", "_"), value)
    for name in REDIS_SECTIONS:
        settings = _section(parser, path, name, REDIS_TYPES)
        url = settings.pop("url", None)
        if url:
            try:
                settings = {**settings_from_url(url), **settings}  # the section's other keys win
            except ConfigurationException as exc:
                raise ConfigurationException(f"configuration {path!r}: [{name}] url: {exc}") from None
        config.redis.update(settings)
    return config


def _section(parser: configparser.ConfigParser, path: str, name: str,
             types: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    """The values of a section, each read by its ``types``.

    Keys are accepted with ``_`` or ``-``; an unknown key is an error, but for ``[DEFAULT]``'s."""
    if not parser.has_section(name):
        return {}
    values = {}
    for key, text in parser.items(name):
        known = next((spelling for spelling in (key, key.replace("_", "-"), key.replace("-", "_"))
                      if spelling in types), None)
        if known is None:
            if key in IGNORED_KEYS or key in parser.defaults():
                continue
            raise ConfigurationException(
                f"configuration {path!r}: [{name}] has an unknown key {key!r} (known: {', '.join(types)})")
        try:
            values[known] = types[known](text.strip())
        except ValueError as exc:
            raise ConfigurationException(f"configuration {path!r}: [{name}] {key}: {exc}") from None
    return values


def _connect(database: str | None, config: Config) -> None:
    """Point the models at ``--database``, else at the configuration's Redis, else at ``REDIS_URL``."""
    if database or not config.redis:
        use_database(database)
        return
    settings = dict(config.redis)
    if "unix_socket_path" not in settings:
        settings = {**DEFAULT_SETTINGS, **settings}
    BaseJobsModel.database.reset(**settings)


def _prefix_in_use(prefix: str) -> bool:
    """Whether the models and keys of this process are under ``prefix``."""
    return BaseJobsModel.namespace == KEYS.prefix == prefix


def _check_prefix(config: Config) -> None:
    """ConfigurationException if the configuration's prefix is not this process's.

    ``LIMPYD_JOBS_PREFIX``, when set, wins over it."""
    if config.prefix is None or os.environ.get(PREFIX_VARIABLE) or _prefix_in_use(config.prefix):
        return
    raise ConfigurationException(
        f"configuration {config.path!r}: prefix {config.prefix!r} is read when limpyd_jobs is imported: "
        f"run the {PROG} command, or set {PREFIX_VARIABLE}={config.prefix}")


def _connection_options(parser: argparse.ArgumentParser, subcommand: bool = False) -> None:
    """``--database`` and ``--config``, before or after the subcommand."""
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if subcommand else {}
    parser.add_argument("--database", help=f"{DATABASE_HELP} (default: {DATABASE_VARIABLE}, the "
                        "configuration's, else REDIS_URL)", **extra)
    parser.add_argument("--config", help=f"an INI file with [redbike] and [redbike-redis] sections, or "
                        f"[limpyd-jobs-schedule] and [limpyd-jobs-redis] (default: {DEFAULT_CONFIG} if any)",
                        **extra)


def make_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog=prog, description="Manage recurring jobs (redbike-style)")
    _connection_options(parser)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        _connection_options(sub, subcommand=True)
        return sub

    set_ = command("set", "set the schedule of a job id")
    set_.add_argument("job_id")
    set_.add_argument("schedule", help="NOW, AT:<timestamp>, CONTINUE, STOP or an RRULE")
    set_.add_argument("--after", type=float, help=f"compute the next run after this timestamp ({AFTER})")
    set_.add_argument("--timefile", help="the dispatcher's timefile (default: the configuration's)")
    set_.add_argument("--timeout", type=_positive,
                      help="seconds each run may take (default: the configuration's default-timeout, "
                      f"else {scheduler.DEFAULT_TIMEOUT:g})")
    set_.add_argument("--queue", help="queue of its runs (default: the job id's last ':' part)")
    set_.add_argument("--priority", type=int, default=0)
    set_.add_argument("--tz", help="time zone of the RRULE (of its DTSTART given without one)")
    set_.add_argument("--on-error", choices=scheduler.ON_ERROR, default=scheduler.DIE,
                      help="a failed run: die ends the schedule (default, as redbike), continue places "
                           "the next run")
    command("unset", "remove the schedule of a job id").add_argument("job_id")
    command("tell", "JSON status of a job id").add_argument("job_id")
    command("schedules", "CSV of job ids and schedules")
    statuses = command("statuses", "the last event of each job id: JOBID,EVENT:TIMESTAMP")
    statuses.add_argument("--before", type=float, help="only statuses older than this timestamp")
    statuses.add_argument("--format", choices=STATUS_FORMATS, default=None,
                          help="redbike: JOBID,EVENT:TIMESTAMP (default, but on a terminal); columns: "
                               "JOBID,EVENT,TIMESTAMP; readable: times in UTC (default on a terminal)")
    dispatch = command("dispatch", "move due runs into their queues, until HALT")
    dispatch.add_argument("--schedules", help="a CSV file of JOBID,SCHEDULE to set first")
    dispatch.add_argument("--after", type=float, help=f"compute next runs after this timestamp ({AFTER})")
    dispatch.add_argument("--timefile", help="file where the dispatcher writes the time at each tick")
    dispatch.add_argument("--interval", type=_positive, default=None, help="seconds between ticks (1)")
    dispatch.add_argument("--once", action="store_true", help="dispatch once and exit")
    control = command("control", "HALT dispatchers and workers, or CLEAR that")
    control.add_argument("order", choices=["HALT", "CLEAR", "halt", "clear"])
    return parser


def _after(given: float | None, timefile: str | None) -> float | None:
    """``--after``, else the timefile's time, never later than now (None: now).

    A timefile written by a host whose clock is ahead does not delay what is due now."""
    if given is not None:
        return given
    written = scheduler.read_timefile(timefile)
    return None if written is None else min(written, BaseJobsModel.clock.time())


def _check_schedule(text: str, tz: str | None) -> None:
    """BadSchedule saying why ``text`` (or ``tz``) cannot be used."""
    if tz:
        time_zone(tz)
    parse(text, tz or None)


def _read_schedules(path: str) -> list[tuple[str, str | None]]:
    """The ``JOBID,SCHEDULE`` rows of a CSV file (a job id alone: unset).

    Every schedule is checked before any is set; BadSchedule names the line of the first bad one."""
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        for row in reader:
            if not row or not row[0].strip() or row[0].startswith("#"):
                continue
            schedule = row[1] if len(row) > 1 and row[1].strip() else None
            if schedule is not None:
                try:
                    _check_schedule(schedule, None)
                except BadSchedule as exc:
                    raise BadSchedule(f"{path!r} line {reader.line_num}: {exc}") from None
            rows.append((row[0].strip(), schedule))
    return rows


def _zone_of(job_id: str, text: str | None) -> tzinfo | None:
    """The time zone of a schedule: its ``tz``, else the TZID of its DTSTART (None: neither)."""
    if text is None:
        return None
    try:
        name = scheduler.RecurringSchedule(job_id).tz.hget()
    except DoesNotExist:  # unset meanwhile
        return None
    if not name:
        found = _TZID.search(text)
        name = found.group(1) if found else None
    try:
        return time_zone(name) if name else None
    except BadSchedule:
        return None


def tell_with_times(job_id: str) -> dict[str, Any]:
    """``scheduler.tell``, with the next run in ISO 8601, in UTC and in the schedule's zone.

    ``next_run_utc`` and ``next_run_local`` (None without a zone)."""
    told = scheduler.tell(job_id)
    next_run, zone = told.get("next_run"), _zone_of(job_id, told.get("schedule"))
    told["next_run_utc"] = _iso(next_run, timezone.utc)
    told["next_run_local"] = _iso(next_run, zone)
    return told


def _iso(timestamp: float | None, zone: tzinfo | None) -> str | None:
    """ISO 8601 of ``timestamp`` in ``zone`` (None without either)."""
    if timestamp is None or zone is None:
        return None
    return datetime.fromtimestamp(timestamp, zone).isoformat()


def _dispatch(args: argparse.Namespace, config: Config) -> int:
    """Set the schedules of ``--schedules``, then dispatch until HALT (or once)."""
    timefile = args.timefile or config.timefile
    after = _after(args.after, timefile)
    rows = _read_schedules(args.schedules) if args.schedules else []
    check_connection()  # at start, Redis must answer; afterwards its outages are ridden out
    for job_id, schedule in rows:
        scheduler.set_schedule(job_id, schedule, after=after, timeout=config.default_timeout)
    interval = args.interval or config.interval or 1.0
    if not args.once:
        logger.info("dispatching due runs every %ss until HALT%s", interval,
                    f", writing the time in {timefile}" if timefile else "")
    print(scheduler.run_dispatcher(interval=interval, timefile=timefile, once=args.once))
    return RET_OK


def _utc(timestamp: float | None) -> str:
    """A timestamp to the second, in UTC, with its zone ("-" if none)."""
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def describe_set(job_id: str, status: str) -> str:
    """One line saying what ``set`` stored: the schedule, its runs' queue and options, the next run."""
    told = scheduler.tell(job_id)
    if told["status"] is None:
        return f"{job_id}: no schedule ({status})"
    queue, priority, timeout = scheduler.RecurringSchedule(job_id).hmget("queue_name", "priority", "timeout")
    schedule = " ".join((told["schedule"] or "").split())
    seconds = f"{float(timeout):g}s" if timeout else f"{scheduler.DEFAULT_TIMEOUT:g}s (the default)"
    next_run = {"STP": "no run left", "BAD": f"invalid: {told['reason']}", "ENQ": "its run queued now"}.get(
        status, f"next run {_utc(told['next_run'])}")
    return (f"{job_id}: {schedule!r} set, {next_run}; queue {queue}, priority {priority}, "
            f"timeout {seconds}, on error {told['on_error']}")


def _unset(job_id: str) -> str:
    """Remove a schedule; the line saying what was removed."""
    before = scheduler.tell(job_id)
    scheduler.unset_schedule(job_id)
    if before["status"] is None:
        return f"{job_id}: no schedule to remove"
    waiting = " and its waiting run" if before["status"].startswith("ENQ") else ""
    running = " (its running run ends without a next one)" if before["working"] else ""
    return f"{job_id}: schedule {' '.join((before['schedule'] or '').split())!r}{waiting} removed{running}"


def statuses_rows(rows: list[tuple[str, str, int]], form: str) -> list[tuple[str, ...]]:
    """The rows of ``statuses`` in a format: redbike's, three columns, or readable times."""
    if form == "redbike":
        return [(job_id, f"{event}:{stamp}") for job_id, event, stamp in rows]
    if form == "readable":
        return [(job_id, event, _utc(stamp)) for job_id, event, stamp in rows]
    return [(job_id, event, str(stamp)) for job_id, event, stamp in rows]


def run(args: argparse.Namespace, config: Config) -> int:
    """Carry out one command; print its result (for set and unset, what was done on stderr)."""
    if args.command == "set":
        _check_schedule(args.schedule, args.tz)  # a bad one is refused: the schedule in place stays
        after = _after(args.after, args.timefile or config.timefile)
        timeout = args.timeout if args.timeout is not None else config.default_timeout
        status = scheduler.set_schedule(args.job_id, args.schedule, after=after, queue_name=args.queue,
                                        priority=args.priority, tz=args.tz, timeout=timeout,
                                        on_error=args.on_error)
        print(status)  # redbike's output, for scripts
        print(describe_set(args.job_id, status), file=sys.stderr)
    elif args.command == "unset":
        print(_unset(args.job_id), file=sys.stderr)
    elif args.command == "tell":
        print(json.dumps(tell_with_times(args.job_id)))
    elif args.command == "schedules":
        csv.writer(sys.stdout).writerows(scheduler.schedules())
    elif args.command == "statuses":
        form = args.format or ("readable" if sys.stdout.isatty() else "redbike")
        rows = statuses_rows(scheduler.statuses(args.before), form)
        if form == "readable":
            width = max((len(job_id) for job_id, *_ in rows), default=0)
            print("\n".join(f"{job_id.ljust(width)}  {event}  {when}" for job_id, event, when in rows))
        else:
            csv.writer(sys.stdout).writerows(rows)
    elif args.command == "control":
        scheduler.control(args.order)
    else:
        return _dispatch(args, config)
    return RET_OK


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = make_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else RET_USAGE
    try:
        config = read_config(args.config)
        _check_prefix(config)
        _connect(database_value(args.database, None), config)
        if args.command != "dispatch":  # said at once, as by the other commands (dispatch: after its file)
            check_connection()
        setup_logging(LOGGER_NAME, level=logging.INFO if args.command == "dispatch" else logging.WARNING)
        return run(args, config)
    except CannotConnect as exc:
        return error_line(prog, exc, RET_CONNECT)
    except RedisError as exc:
        return redis_failed(prog, exc)
    except (ConfigurationException, BadSchedule, OSError, ValueError) as exc:
        return error_line(prog, exc, RET_USAGE)
    except KeyboardInterrupt:
        return RET_OK


def _prefix_to_apply(argv: Sequence[str]) -> str | None:
    """The configuration's prefix, if this process does not use it and none is set by variable.

    Errors are left for ``main`` to say."""
    if os.environ.get(PREFIX_VARIABLE):
        return None
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--config")
    try:
        config = read_config(early.parse_known_args(list(argv))[0].config)
    except (ConfigurationException, SystemExit):
        return None
    if config.prefix is None or _prefix_in_use(config.prefix):
        return None
    return config.prefix


def start(argv: Sequence[str], prog: str = PROG) -> int:
    """Run the command; the exit code.

    With a prefix in the configuration, it starts again with ``LIMPYD_JOBS_PREFIX`` set, so that
    the models, made at import, are under it."""
    prefix = _prefix_to_apply(argv)
    if prefix is not None:
        os.execve(sys.executable, [sys.executable, "-m", "limpyd_jobs.cli.schedule", *argv],
                  {**os.environ, PREFIX_VARIABLE: prefix})
    return main(argv, prog)


def entry_point() -> None:
    """Console-script entry point."""
    autocomplete(make_parser)
    sys.exit(start(sys.argv[1:]))


if __name__ == "__main__":
    entry_point()
