"""``limpyd-jobs-schedule``: set, inspect and dispatch recurring jobs.

    limpyd-jobs-schedule set JOBID SCHEDULE [--after=TS] [--queue=NAME] [--priority=N] [--tz=ZONE]
    limpyd-jobs-schedule unset JOBID
    limpyd-jobs-schedule tell JOBID                     # JSON
    limpyd-jobs-schedule schedules                      # CSV: job id, schedule
    limpyd-jobs-schedule statuses [--before=TS]         # CSV: job id, event, timestamp
    limpyd-jobs-schedule dispatch [--schedules=CSV] [--after=TS] [--timefile=F] [--once]
    limpyd-jobs-schedule control HALT|CLEAR

``--database`` works as for the worker; ``--config`` reads an INI file whose
``[limpyd-jobs-schedule]`` stanza gives defaults (timefile, interval) and whose
``[limpyd-jobs-redis]`` stanza gives the connection (url, or host/port/db/password); other
stanzas are ignored.
"""

from __future__ import annotations

import argparse
import configparser
import csv
import json
import sys
from collections.abc import Sequence

from redis.exceptions import RedisError

from .. import __version__
from ..connection import settings_from_url
from ..exceptions import ConfigurationException
from ..models import BaseJobsModel
from ..recurring import scheduler
from ..recurring.rules import BadSchedule
from .common import RET_OK, RET_USAGE, add_database_argument, redis_failed, usage_error, use_database


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="limpyd-jobs-schedule", description="Manage recurring jobs")
    add_database_argument(parser)
    parser.add_argument("--config", help="an INI file with [limpyd-jobs-schedule] and [limpyd-jobs-redis]")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    set_ = commands.add_parser("set", help="set the schedule of a job id")
    set_.add_argument("job_id")
    set_.add_argument("schedule", help="NOW, AT:<timestamp>, CONTINUE, STOP or an RRULE")
    set_.add_argument("--after", type=float, help="compute the next run after this timestamp")
    set_.add_argument("--queue", help="queue of its runs (default: the job id's last ':' part)")
    set_.add_argument("--priority", type=int, default=0)
    set_.add_argument("--tz", help="time zone of an RRULE's DTSTART given without one")
    commands.add_parser("unset", help="remove the schedule of a job id").add_argument("job_id")
    commands.add_parser("tell", help="JSON status of a job id").add_argument("job_id")
    commands.add_parser("schedules", help="CSV of job ids and schedules")
    statuses = commands.add_parser("statuses", help="CSV of job ids, events and times")
    statuses.add_argument("--before", type=float, help="only statuses older than this timestamp")
    dispatch = commands.add_parser("dispatch", help="move due runs into their queues, until HALT")
    dispatch.add_argument("--schedules", help="a CSV file of JOBID,SCHEDULE to set first")
    dispatch.add_argument("--after", type=float, help="compute next runs after this timestamp")
    dispatch.add_argument("--timefile", help="file where the dispatcher writes the time at each tick")
    dispatch.add_argument("--interval", type=float, default=None, help="seconds between ticks (1)")
    dispatch.add_argument("--once", action="store_true", help="dispatch once and exit")
    control = commands.add_parser("control", help="HALT dispatchers and workers, or CLEAR that")
    control.add_argument("order", choices=["HALT", "CLEAR", "halt", "clear"])
    return parser


def _read_config(path: str | None) -> tuple[dict, dict]:
    if not path:
        return {}, {}
    config = configparser.ConfigParser()
    if not config.read(path):
        raise ConfigurationException(f"argument --config: cannot read {path!r}")
    section = dict(config["limpyd-jobs-schedule"]) if config.has_section("limpyd-jobs-schedule") else {}
    redis_section = dict(config["limpyd-jobs-redis"]) if config.has_section("limpyd-jobs-redis") else {}
    return section, redis_section


def _connect(args: argparse.Namespace, redis_section: dict) -> None:
    if args.database:
        use_database(args.database)
        return
    if "url" in redis_section:
        settings = settings_from_url(redis_section["url"])
    elif redis_section:
        settings = {"host": redis_section.get("host", "localhost"),
                    "port": int(redis_section.get("port", 6379)), "db": int(redis_section.get("db", 0))}
        if redis_section.get("password"):
            settings["password"] = redis_section["password"]
    else:
        return
    BaseJobsModel.database.reset(**settings)


def _set_from_csv(path: str, after: float | None) -> None:
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if row and not row[0].startswith("#"):
                scheduler.set_schedule(row[0], row[1] if len(row) > 1 else None, after=after)


def run(args: argparse.Namespace, section: dict) -> int:
    """Carry out one command; print its result."""
    if args.command == "set":
        status = scheduler.set_schedule(args.job_id, args.schedule, after=args.after,
                                        queue_name=args.queue, priority=args.priority, tz=args.tz)
        print(status)
    elif args.command == "unset":
        scheduler.unset_schedule(args.job_id)
    elif args.command == "tell":
        print(json.dumps(scheduler.tell(args.job_id)))
    elif args.command == "schedules":
        csv.writer(sys.stdout).writerows(scheduler.schedules())
    elif args.command == "statuses":
        csv.writer(sys.stdout).writerows(scheduler.statuses(args.before))
    elif args.command == "control":
        scheduler.control(args.order)
    else:
        timefile = args.timefile or section.get("timefile")
        after = args.after if args.after is not None else scheduler.read_timefile(timefile)
        if args.schedules:
            _set_from_csv(args.schedules, after)
        interval = args.interval if args.interval is not None else float(section.get("interval", 1))
        print(scheduler.run_dispatcher(interval=interval, timefile=timefile, once=args.once))
    return RET_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else RET_USAGE
    try:
        section, redis_section = _read_config(args.config)
        _connect(args, redis_section)
        return run(args, section)
    except (ConfigurationException, BadSchedule, OSError, ValueError) as exc:
        return usage_error(parser, exc)
    except RedisError as exc:
        return redis_failed("limpyd-jobs-schedule", exc)
    except KeyboardInterrupt:
        return RET_OK


def entry_point() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
