"""``limpyd-jobs``'s commands on queues, jobs and workers: ``info``, ``jobs``, ``show``, ``requeue``...

Arguments and text here; the reads and writes are ``limpyd_jobs.operations``'. The commands, their
outputs and exit codes: docs/operating.rst.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

from redis.exceptions import RedisError

from .. import operations
from ..constants import __version__
from ..exceptions import ConfigurationException, InvalidIdent, InvalidType, InvalidValue
from ..models import Queue
from ..operations import JobInfo, OperationError
from ..utils import to_utc
from ..validation import clean_seconds, printable
from .common import (
    RET_CONNECT,
    RET_ERROR,
    RET_OK,
    RET_USAGE,
    CannotConnect,
    add_connection_arguments,
    check_connection,
    connect,
    error_line,
    reader_gone,
    redis_failed,
)

PROG = "limpyd-jobs"
#: Every command, and the commands that only read.
COMMANDS = ("info", "queues", "workers", "jobs", "show", "errors", "requeue", "cancel", "empty", "pause",
            "resume", "stop-workers", "health", "metrics")
READ_COMMANDS = ("info", "queues", "workers", "jobs", "show", "errors", "health")
METRICS_TOKEN_VARIABLE = "LIMPYD_JOBS_METRICS_TOKEN"
METRICS_BASIC_AUTH_VARIABLE = "LIMPYD_JOBS_METRICS_BASIC_AUTH"
#: Seconds between two frames of ``info --watch`` when none are given.
WATCH_SECONDS = 2.0
_CLEAR = "\x1b[H\x1b[2J"


def _seconds(value: str) -> float:
    try:
        return clean_seconds(value, zero=False)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"a number from 0, not {value!r}")
    return int(value)


def make_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The arguments of the commands that look at queues, jobs and workers, and act on them."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Look at queues, jobs and workers, and act on them. A JOB is its ident "
                               "(module.Class:pk) or QUEUE/identifier.")
    add_connection_arguments(parser)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        add_connection_arguments(sub, subcommand=True)
        if name in READ_COMMANDS:
            sub.add_argument("--json", action="store_true", help="write JSON instead of text")
        return sub

    def heartbeat(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--heartbeat-timeout", type=_seconds, default=operations.HEARTBEAT_TIMEOUT,
                         help="seconds without a beat after which a worker is dead (default %(default)s)")

    def paging(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--limit", type=_count, default=20, help="jobs to show (default %(default)s)")
        sub.add_argument("--offset", type=_count, default=0, help="jobs to skip first (default 0)")

    info = command("info", "queues, with their jobs by state, and workers")
    info.add_argument("--watch", type=_seconds, nargs="?", const=WATCH_SECONDS, metavar="SECONDS",
                      help=f"show it again every SECONDS (default {WATCH_SECONDS:g}) until Ctrl-C")
    heartbeat(info)
    command("queues", "queues, with their jobs by state")
    heartbeat(command("workers", "registered workers, what they run, whether they beat"))
    jobs = command("jobs", "the jobs of a queue in a state")
    jobs.add_argument("queue", metavar="QUEUE")
    jobs.add_argument("--state", choices=operations.STATES, default="waiting", help="(default waiting)")
    paging(jobs)
    command("show", "a job's fields, and its errors with their tracebacks").add_argument("job", metavar="JOB")
    errors = command("errors", "the failed jobs of a queue, each with its last error")
    errors.add_argument("queue", metavar="QUEUE")
    paging(errors)
    requeue = command("requeue", "put failed jobs back in their queue, their tries reset")
    requeue.add_argument("targets", nargs="+", metavar="QUEUE|JOB")
    requeue.add_argument("--all", action="store_true", help="every failed job of QUEUE")
    requeue.add_argument("--front", action="store_true", help="at the front of the queue (default: the back)")
    command("cancel", "cancel jobs (one running ends as canceled)").add_argument(
        "jobs", nargs="+", metavar="JOB")
    command("empty", "cancel every waiting and delayed job of a queue").add_argument("queue", metavar="QUEUE")
    command("pause", "workers take no job from this queue until resumed").add_argument(
        "queue", metavar="QUEUE")
    command("resume", "workers take jobs from this queue again").add_argument("queue", metavar="QUEUE")
    command("stop-workers", "ask workers (all by default) to stop after their current job").add_argument(
        "ids", nargs="*", metavar="ID")
    health = command("health", "exit 0 if Redis answers and the workers asked for beat, 1 if not, 3 "
                               "if Redis does not answer")
    health.add_argument("--queues", default="", help="comma-separated queues that need a worker beating")
    health.add_argument("--worker", help="the id of a worker that must beat")
    heartbeat(health)
    metrics = command("metrics", "serve the Prometheus metrics of every queue over HTTP until Ctrl-C "
                                 "(needs prometheus_client)")
    metrics.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (default %(default)s: this machine only; 0.0.0.0: all)")
    metrics.add_argument("--port", type=_count, default=9100, help="port to listen on (default %(default)s)")
    metrics.add_argument("--token", default=os.environ.get(METRICS_TOKEN_VARIABLE) or None,
                         help=f"require this bearer token of scrapers (or {METRICS_TOKEN_VARIABLE})")
    metrics.add_argument("--basic-auth", metavar="USER:PASS",
                         default=os.environ.get(METRICS_BASIC_AUTH_VARIABLE) or None,
                         help=f"require HTTP basic auth of scrapers (or {METRICS_BASIC_AUTH_VARIABLE})")
    heartbeat(metrics)
    return parser


# --- text


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """Rows under their headers, in aligned columns (``right``: the columns aligned right)."""
    cells = [[printable(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(value.rjust(widths[i]) if i in right else value.ljust(widths[i])
                         for i, value in enumerate(values)).rstrip()

    return "\n".join([line(headers), *(line(row) for row in cells)])


def ago(moment: datetime | None, now: datetime) -> str:
    """How long ago: ``4s``, ``2m05s``, ``1h02m``, ``3d04h``."""
    if moment is None:
        return "-"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def _date(value: Any) -> str:
    """A stored date or a timestamp, to the second, in UTC, said ("-" if none)."""
    moment = to_utc(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def queues_text(counts: list[operations.QueueCounts]) -> str:
    if not counts:
        return "no queue"
    rows = [(count.name, ",".join(map(str, count.priorities)), count.waiting, count.delayed, count.running,
             count.success, count.error, count.canceled, "paused" if count.paused else "")
            for count in counts]
    return table(("QUEUE", "PRIORITIES", "WAITING", "DELAYED", "RUNNING", "SUCCESS", "ERROR", "CANCELED", ""),
                 rows, right=(2, 3, 4, 5, 6, 7))


def workers_text(states: list[operations.WorkerState], now: datetime) -> str:
    if not states:
        return "no worker"
    rows = []
    for state in states:
        running = ", ".join(f"{job.identifier or job.ident} ({ago(job.since, now)})"
                            for job in state.running) or "-"
        status = ("alive" if state.alive else "dead") + (", stopping" if state.stopping else "")
        rows.append((state.id, state.host, state.pid or "-", ",".join(state.queues), state.mode, status,
                     ago(state.last_beat, now) + " ago", running))
    return table(("WORKER", "HOST", "PID", "QUEUES", "MODE", "STATE", "LAST BEAT", "RUNNING"), rows,
                 right=(2,))


_WHEN = {"waiting": ("ADDED", "added"), "delayed": ("DUE", "delayed_until"), "running": ("STARTED", "start"),
         "success": ("ENDED", "end"), "error": ("ENDED", "end"), "canceled": ("ADDED", "added")}


def jobs_text(found: list[JobInfo], state: str, now: datetime) -> str:
    if not found:
        return f"no {state} job"
    title, field = _WHEN[state]
    headers = ["IDENT", "IDENTIFIER", "STATUS", "PRIORITY", "TRIES", title]
    if state == "running":
        headers.append("WORKER")
    rows = []
    for info in found:
        row = [info.name, info.identifier, info.status, info.fields.get("priority", "-"),
               info.fields.get("tries", "0"), _date(info.fields.get(field))]
        if state == "running":
            row.append(f"{info.worker} ({ago(info.since, now)})")
        rows.append(row)
    return table(headers, rows, right=(3, 4))


#: The fields of a job that hold a time, shown as every time is (``_date``).
_TIMES = ("added", "start", "end", "delayed_until")
_SHOWN = ("identifier", "status", "queue", "priority", "tries", "added", "start", "end", "delayed_until",
          "queued", "attempt", "timeout", "cancel_on_error", "queue_key")


def show_text(info: JobInfo, errors: list[operations.ErrorInfo], history: list[dict[str, Any]]) -> str:
    values = {**info.fields, "status": info.status, "queue": info.queue}
    values.update({name: _date(values[name]) for name in _TIMES if values.get(name)})
    names = [name for name in _SHOWN if values.get(name)] + sorted(set(values) - set(_SHOWN))
    if info.worker:
        since = f" (since {_date(info.since)})" if info.since else ""
        values["worker"] = info.worker + since
        names.append("worker")
    width = max(len(printable(name)) for name in [*names, "ident"])
    lines = [f"{'ident'.ljust(width)}  {printable(info.name)}"]
    lines += [f"{printable(name).ljust(width)}  {printable(values[name])}" for name in names]
    if history:
        lines += ["", f"history: {len(history)} event(s)"]
        for event in history:
            details = " ".join(f"{name}={value}" for name, value in event.items()
                               if name not in ("event", "at", "error") and value is not None)
            line = f"  {_date(event.get('at'))}  {event.get('event', '?')}  {details}".rstrip()
            lines.append(printable(line))
    lines.append("")
    lines.append(f"errors: {len(errors)}" if errors else "errors: none")
    for number, error in enumerate(errors, 1):
        fields = error.fields
        code = f" [{fields['code']}]" if fields.get("code") else ""
        lines.append(printable(f"#{number} {_date(fields.get('date_time'))} {fields.get('type', '')}{code}: "
                               f"{fields.get('message', '')}"))
        lines += [f"    {printable(line)}" for line in (fields.get("traceback") or "").rstrip().split("\n")]
    return "\n".join(lines)


def errors_text(found: list[tuple[JobInfo, operations.ErrorInfo | None]]) -> str:
    if not found:
        return "no failed job"
    rows = []
    for info, error in found:
        reason = "-"
        if error is not None:
            reason = printable(f"{error.fields.get('type', '')}: {error.fields.get('message', '')}")
            reason = " ".join(reason.split())
            reason = reason if len(reason) <= 70 else reason[:69] + "…"
        rows.append((info.name, info.identifier, info.fields.get("tries", "0"),
                     _date(info.fields.get("end")), reason))
    return table(("IDENT", "IDENTIFIER", "TRIES", "ENDED", "LAST ERROR"), rows, right=(2,)) + (
        "\n(limpyd-jobs show JOB: its errors, with their tracebacks)")


# --- the commands


class _Command:
    """One run of the command: its arguments and where it writes."""

    def __init__(self, args: argparse.Namespace, out: TextIO, stop: threading.Event) -> None:
        self.args = args
        self.out = out
        self.stop = stop

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def emit(self, data: Any, text: Callable[[], str]) -> int:
        """Write ``data`` as JSON with ``--json``, else ``text()``."""
        if getattr(self.args, "json", False):
            self.write(json.dumps(data, indent=2, ensure_ascii=False))
        else:
            self.write(text())
        return RET_OK

    def now(self) -> datetime:
        return Queue.clock.now()

    def info(self) -> int:
        if self.args.watch is None:
            return self.emit(*self._info_frame())
        while True:  # until Ctrl-C (or ``stop``, for tests)
            try:
                data, text = self._info_frame()
                frame = json.dumps(data, ensure_ascii=False) if self.args.json else text()
            except RedisError as exc:  # an outage: said in the frame, and the next frame tries again
                frame = (json.dumps({"error": f"Redis: {exc}"}) if self.args.json
                         else f"{PROG}: error: Redis: {exc}")
            if self.args.json:
                self.write(frame)
            else:
                clear = _CLEAR if self.out.isatty() else ""
                title = f"Every {self.args.watch:g}s: {PROG} info    {self.now():%Y-%m-%d %H:%M:%S} UTC"
                self.write(f"{clear}{title}\n\n{frame}\n")
            if self.stop.wait(self.args.watch):
                return RET_OK

    def _info_frame(self) -> tuple[dict[str, Any], Callable[[], str]]:
        counts = operations.all_counts(with_canceled=True)
        states = operations.workers(self.args.heartbeat_timeout)
        now = self.now()
        data = {"queues": [count.as_dict() for count in counts],
                "workers": [state.as_dict() for state in states]}
        return data, lambda: f"{queues_text(counts)}\n\n{workers_text(states, now)}"

    def queues(self) -> int:
        counts = operations.all_counts(with_canceled=True)
        return self.emit([count.as_dict() for count in counts], lambda: queues_text(counts))

    def workers(self) -> int:
        states = operations.workers(self.args.heartbeat_timeout)
        now = self.now()
        return self.emit([state.as_dict() for state in states], lambda: workers_text(states, now))

    def jobs(self) -> int:
        args = self.args
        found = operations.jobs(args.queue, args.state, args.offset, args.limit)
        now = self.now()
        return self.emit([info.as_dict() for info in found], lambda: jobs_text(found, args.state, now))

    def show(self) -> int:
        info = operations.find_job(self.args.job)
        errors, history = operations.job_errors(info), operations.job_history(info)
        data = {**info.as_dict(), "history": history, "errors": [error.as_dict() for error in errors]}
        return self.emit(data, lambda: show_text(info, errors, history))

    def errors(self) -> int:
        found = operations.failures(self.args.queue, self.args.offset, self.args.limit)
        data = [{**info.as_dict(), "last_error": error.as_dict() if error else None} for info, error in found]
        return self.emit(data, lambda: errors_text(found))

    def health(self) -> int:
        state = operations.health(self.args.queues, self.args.worker, self.args.heartbeat_timeout)
        self.emit(state.as_dict(), lambda: f"{'healthy' if state.ok else 'unhealthy'}: {state.message}")
        if not state.redis:
            return RET_CONNECT
        return RET_OK if state.ok else RET_ERROR

    def requeue(self) -> int:
        args = self.args
        if args.all:
            if len(args.targets) != 1:
                raise _Usage("requeue --all takes one QUEUE")
            count = operations.requeue_failed(args.targets[0], prepend=args.front)
            self.write(f"{count} failed job(s) of {args.targets[0]} requeued")
            return RET_OK
        for target in args.targets:
            if "/" not in target and ":" not in target and target in operations.queue_names():
                raise _Usage(f"{target!r} is a queue: `requeue {target} --all` requeues its failed jobs")
        return self._each_job(args.targets, lambda info: f"requeued {info.name} in "
                              f"{operations.requeue(info, prepend=args.front)}")

    def cancel(self) -> int:
        said = {"canceled": "canceled", "marked": "canceled: its worker ends it as canceled",
                "already": "was canceled already"}
        return self._each_job(self.args.jobs, lambda info: f"{info.name} ({info.status}) "
                              f"{said[operations.cancel(info)]}")

    def _each_job(self, texts: list[str], act: Callable[[JobInfo], str]) -> int:
        """Act on each of these jobs, all found first; 1 if one could not be acted on.

        Nothing is done if one is unknown; a refusal is said on stderr."""
        found = [operations.find_job(text) for text in texts]
        code = RET_OK
        for info in found:
            try:
                self.write(act(info))
            except operations.JobStateError as exc:
                code = error_line(PROG, exc, RET_ERROR)
        return code

    def empty(self) -> int:
        count = operations.empty(self.args.queue)
        self.write(f"queue {self.args.queue} emptied: {count} job(s) canceled")
        return RET_OK

    def pause(self) -> int:
        self._known_queue(self.args.queue)
        changed = operations.pause(self.args.queue)
        name = self.args.queue
        self.write(f"queue {name} paused" if changed else f"queue {name} was paused already")
        return RET_OK

    def resume(self) -> int:
        name = self.args.queue
        if name not in operations.paused():
            self._known_queue(name)
        changed = operations.resume(name)
        self.write(f"queue {name} resumed" if changed else f"queue {name} was not paused")
        return RET_OK

    def _known_queue(self, name: str) -> None:
        if name not in operations.queue_names():
            raise operations.UnknownQueue(f"no queue named {name!r}")

    def metrics(self) -> int:
        try:
            from ..metrics import serve
        except ImportError as exc:
            raise _Usage(f"metrics need prometheus_client (pip install limpyd-jobs[metrics]): {exc}") \
                from None
        server = serve(self.args.port, self.args.host, token=self.args.token, basic_auth=self.args.basic_auth,
                       heartbeat_timeout=self.args.heartbeat_timeout)
        self.write(f"serving metrics on http://{self.args.host}:{server.server_port}/metrics")
        try:
            self.stop.wait()
        finally:
            server.shutdown()
        return RET_OK

    def stop_workers(self) -> int:
        asked = operations.stop_workers(self.args.ids or None)
        self.write(f"asked {len(asked)} worker(s) to stop after their current job: {', '.join(asked)}"
                   if asked else "no worker registered")
        return RET_OK


class _Usage(ConfigurationException):
    """The arguments cannot be used together."""


def main(argv: Sequence[str] | None = None, stop: threading.Event | None = None,
         out: TextIO | None = None) -> int:
    """Run the command; return its exit code (``stop``, when set, ends ``info --watch``)."""
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or misuse (argparse said it)
        return exc.code if isinstance(exc.code, int) else RET_USAGE
    runner = _Command(args, out or sys.stdout, stop or threading.Event())
    try:
        connect(args.database, args.config)
        operations.use_timeouts()  # a hung Redis: a one-line error within seconds
        check_connection()
        return getattr(runner, args.command.replace("-", "_"))()
    except CannotConnect as exc:
        return error_line(PROG, exc, RET_CONNECT)
    except RedisError as exc:
        return redis_failed(PROG, exc)
    except operations.JobStateError as exc:
        return error_line(PROG, exc, RET_ERROR)
    except (OperationError, ConfigurationException, InvalidIdent, InvalidValue, InvalidType) as exc:
        return error_line(PROG, exc, RET_USAGE)
    except KeyboardInterrupt:
        return RET_OK
    except BrokenPipeError:  # the reader went away (``info --watch | head``): nothing more to say
        return reader_gone()


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
