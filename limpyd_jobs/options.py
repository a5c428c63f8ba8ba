"""Every worker option, declared once.

This table gives ``Worker`` its class attributes and ``parameters`` tuple, the
``limpyd-jobs-worker`` command its flags and help, ``--print-options`` its lines, and both
their validation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .exceptions import ConfigurationException
from .models import Error, Queue
from .utils import import_string, normalize_names


@dataclass(frozen=True)
class Option:
    """One setting: its name, default, how to read it from text, and its help line."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    example: str
    #: True when the value is passed to the Worker (False: used by the command only).
    worker: bool = True
    #: True for on/off options, which get a ``--name`` and a ``--no-name`` flag.
    switch: bool = False
    #: For switches that only exist as ``--no-name`` (the command's ``--no-title``).
    only_negative: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _integer(minimum: int | None = None) -> Callable[[str], int]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not an integer") from None
        if minimum is not None and number < minimum:
            raise ValueError(f"{number} is below the minimum of {minimum}")
        return number

    return parse


def _optional_integer(minimum: int) -> Callable[[Any], int | None]:
    parse = _integer(minimum)

    def parse_optional(value: Any) -> int | None:
        return None if value in (None, "", "None", "none") else parse(value)

    return parse_optional


def _seconds(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if number < 0:
        raise ValueError(f"{number} is negative")
    return number


def _optional_seconds(value: Any) -> float | None:
    return None if value in (None, "", "None", "none") else _seconds(value)


def _log_level(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    if not isinstance(level, int):
        raise ValueError(f"{value!r} is not a logging level (DEBUG, INFO, WARNING, ERROR...)")
    return level


def _importable(value: Any) -> Any:
    return import_string(value) if isinstance(value, str) else value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean")


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def _cycle(value: Any) -> list[str] | None:
    names = [name.strip() for name in str(value).split(":") if name.strip()] if value else []
    if value and not names:
        raise ValueError(f"{value!r} is not a list of queue names separated by ':'")
    return names or None


def _text(value: Any) -> str:
    return str(value)


OPTIONS: tuple[Option, ...] = (
    # --- used by the command itself
    Option("pythonpath", None, _text, "A directory to add to the Python path",
           "--pythonpath=/my/module", worker=False),
    Option("worker_config", "limpyd_jobs.workers.WorkerConfig", _importable,
           "The worker config class to use, default to limpyd_jobs.workers.WorkerConfig",
           "--worker-config=my.module.MyWorkerConfig", worker=False),
    Option("print_options", False, _boolean, "Print options used by the worker",
           "--print-options", worker=False),
    Option("dry_run", False, _boolean,
           "Won't execute any job, just starts the worker and finish it immediately",
           "--dry-run", worker=False),
    Option("worker_class", "limpyd_jobs.workers.Worker", _importable,
           "Name of the Worker class to use", "--worker-class=my.module.WorkerClass", worker=False),
    Option("database", None, _text,
           "Redis database to use: host:port:db, or a redis://, rediss:// or unix:// URL",
           "--database=localhost:6379:15", worker=False),
    Option("title", True, _boolean, "Do not update the title of the worker's process",
           "--no-title", worker=False, switch=True, only_negative=True),
    # --- passed to the worker, in the documented ``parameters`` order
    Option("queues", None, normalize_names, "Name of the Queues to handle, comma separated",
           "--queues=queue1,queue2"),
    Option("callback", None, _importable, "The callback to call for each job",
           "--callback=my.module.callback"),
    Option("queue_model", Queue, _importable, "Name of the Queue model to use",
           "--queue-model=my.module.QueueModel"),
    Option("error_model", Error, _importable, "Name of the Error model to use",
           "--error-model=my.module.ErrorModel"),
    Option("logger_name", "limpyd-jobs", _text, "The base name to use for logging",
           "--logger-name=my-workers"),
    Option("logger_level", logging.INFO, _log_level, "The level to use for logging",
           "--logger-level=ERROR"),
    Option("save_errors", True, _boolean, "Save job errors in the Error model",
           "--save-errors", switch=True),
    Option("save_tracebacks", True, _boolean,
           "Save exception tracebacks on job error in the Error model", "--save-tracebacks",
           switch=True),
    Option("max_loops", 1000, _integer(1), "Max number of jobs to run", "--max-loops=100"),
    Option("max_duration", None, _optional_seconds,
           "Max duration of the worker, in seconds (None by default)", "--max-duration=3600"),
    Option("terminate_gracefuly", True, _boolean,
           "Intercept SIGTERM and SIGINT signals to stop gracefuly", "--terminate-gracefuly",
           switch=True),
    Option("timeout", 30, _seconds,
           "Max delay (seconds) to wait for a job before looping again (0 for no timeout)",
           "--timeout=30"),
    Option("fetch_priorities_delay", 25, _seconds,
           "Min delay (seconds) to wait before fetching new priority queues",
           "--fetch-priorities-delay=20"),
    Option("fetch_delayed_delay", 25, _seconds,
           "Min delay (seconds) to wait before updating delayed jobs", "--fetch-delayed-delay=20"),
    Option("requeue_times", 0, _integer(0),
           "Number of time to requeue a failing job (default to 0)", "--requeue-times=5"),
    Option("requeue_priority_delta", -1, _integer(),
           "Delta to add to the actual priority of a failing job to be requeued "
           "(default to -1, ie one level lower)", "--requeue-priority-delta=-2"),
    Option("requeue_delay_delta", 30, _seconds,
           "How much time (seconds) to delay a job to be requeued (default to 30)",
           "--requeue-delay-delta=15"),
    # --- reliability (beyond the documented parameters)
    Option("execution_mode", "inprocess", _choice("inprocess", "fork", "prefork"),
           "Where jobs run: in the worker process (inprocess), in a child forked per job (fork), "
           "or in a pre-forked child reused across jobs (prefork)", "--execution-mode=fork"),
    Option("job_timeout", None, _optional_seconds,
           "Seconds a job may run (a job's own `timeout` field wins); forked modes kill it",
           "--job-timeout=300"),
    Option("timeout_grace", 5, _seconds,
           "Seconds between SIGTERM and SIGKILL for a job past its timeout (forked modes)",
           "--timeout-grace=5"),
    Option("heartbeat_interval", 5, _seconds, "Seconds between two beats of the worker",
           "--heartbeat-interval=5"),
    Option("heartbeat_timeout", 30, _seconds,
           "A worker silent for this many seconds is dead: its jobs are given back",
           "--heartbeat-timeout=30"),
    Option("recovery_delay", 15, _seconds,
           "Seconds between two looks for jobs of dead workers (0: never, leave it to a sweeper)",
           "--recovery-delay=15"),
    Option("lost_job_max_tries", 5, _integer(1),
           "Attempts after which a job whose worker keeps dying ends in ERROR",
           "--lost-job-max-tries=5"),
    Option("queue_cycle", None, _cycle,
           "Work queues in this ratio instead of by priority alone: 'A:A:B' takes from A twice, "
           "then B, each turn falling back on the others when its queue is empty",
           "--queue-cycle=A:A:B"),
    # --- retention of finished jobs
    Option("keep_finished", 10000, _optional_integer(0),
           "Finished jobs kept per queue, in each of its success and errors lists (None: all)",
           "--keep-finished=10000"),
    Option("finished_ttl", None, _optional_seconds,
           "Seconds after which a finished job (and its errors) is deleted (None: no limit)",
           "--finished-ttl=604800"),
    Option("purge_delay", 60, _seconds,
           "Seconds between two purges of finished jobs (0: never)", "--purge-delay=60"),
)

WORKER_OPTIONS = tuple(option for option in OPTIONS if option.worker)
COMMAND_OPTIONS = tuple(option for option in OPTIONS if not option.worker)


def clean(option: Option, value: Any) -> Any:
    """Parse and check a value for ``option``, or raise ConfigurationException naming it."""
    if value is None:
        return None
    try:
        return option.parse(value)
    except (ValueError, TypeError, ImportError) as exc:
        raise ConfigurationException(f"Invalid value for {option.name} ({option.flag}): {exc}") from None
