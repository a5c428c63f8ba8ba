"""Every worker option, declared once: its type, default, parser and help line.

``WorkerSettings`` is a dataclass whose fields are the options. ``Worker`` inherits them as
class attributes (a subclass may say ``max_loops = 10``), takes any of them as a constructor
argument, and checks each with ``clean``; ``Worker.parameters`` lists them in this order (the
documented ones first); the ``limpyd-jobs-worker`` command builds its flags and help from the
same fields.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import Field, dataclass, field, fields
from datetime import timedelta
from typing import Any

from ..clock import Clock
from ..constants import LOGGER_NAME
from ..exceptions import ConfigurationException
from ..models import Error, Queue
from ..utils import import_string
from ..validation import clean_queue_name, clean_seconds, clean_timeout


def option(default: Any, parse: Callable[[Any], Any], help: str = "", example: str = "", *,
           switch: bool = False, only_negative: bool = False, cli: bool = True, flag: str = "") -> Any:
    """Declare an option: its default, how to read it from text, its help line and example;
    ``switch``: an on/off option (``--name`` and ``--no-name``, or only ``--no-name`` if
    ``only_negative``); ``cli``: whether the command has a flag for it; ``flag``: the flag, if
    not the name's (``--max-loops`` for ``max_loops``)."""
    return field(default=default, metadata={"parse": parse, "help": help, "example": example,
                                            "switch": switch, "only_negative": only_negative, "cli": cli,
                                            "flag": flag})


def flag(setting: Field) -> str:
    """The command-line flag of an option: ``--max-loops`` for ``max_loops``."""
    return setting.metadata.get("flag") or "--" + setting.name.replace("_", "-")


def clean(setting: Field, value: Any) -> Any:
    """Parse and check a value for an option, or raise ConfigurationException naming it."""
    if value is None:
        return None
    try:
        return setting.metadata["parse"](value)
    except Refused as exc:
        said = exc.args[0].format(flag=flag(setting), option=flag(setting)[2:], value=exc.args[1])
        raise ConfigurationException(said) from None
    except (ValueError, TypeError, ImportError) as exc:
        raise ConfigurationException(f"Invalid value for {setting.name} ({flag(setting)}): {exc}") from None


class Refused(ValueError):
    """A value refused in redis-limpyd-jobs' words: ``args`` are a whole message, whose
    ``{flag}``, ``{option}`` and ``{value}`` ``clean`` fills, and the value to show."""


# --- parsers: each takes a value (text from the command line, or any Python value) and returns
# the option's value, or raises ValueError saying why it cannot

def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Refused("option {flag}: invalid integer value: {value}", repr(value)) from None
        if minimum in (0, 1) and number < minimum:
            including = " (including 0)" if minimum == 0 else ""
            raise Refused("The {option} argument ({value}) must be a positive integer" + including, number)
        if minimum is not None and number < minimum:
            raise ValueError(f"{number} is below the minimum of {minimum}")
        if maximum is not None and number > maximum:
            raise ValueError(f"{number} is above the maximum of {maximum}")
        return number

    return parse


def optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse``, with "None" (or an empty text) meaning None."""
    def parse_optional(value: Any) -> Any:
        return None if value in (None, "", "None", "none") else parse(value)

    return parse_optional


def seconds(value: Any) -> float:
    """Seconds from 0, fractions allowed; refused in redis-limpyd-jobs 2's words, said of decimals."""
    try:
        number = None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise Refused("option {flag}: invalid integer value: {value} (nor a decimal number of seconds)",
                      repr(value))
    if number < 0:
        raise Refused("The {option} argument ({value}) must be a positive integer (including 0) "
                      "or decimal number of seconds", value)
    return clean_seconds(value, name="it")


def duration(value: Any) -> timedelta:
    """A duration: a timedelta, or a number of seconds (kept as a timedelta, as the seed says)."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    return timedelta(seconds=seconds(value))


def queue_names(value: Any) -> list[str]:
    """Queue names: one, a comma-separated text, or a list of names (each without ',')."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"queues are a name, names separated by ',', or a list of names, not {value!r}")
    return [clean_queue_name(name.strip() if isinstance(name, str) else name) for name in value
            if not isinstance(name, str) or name.strip()]


def module_names(value: Any) -> tuple[str, ...]:
    """Module paths: comma-separated text, or a list."""
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"{value!r} is not a list of module paths")
    return tuple(name.strip() for name in names if name.strip())


def log_level(value: Any) -> int:
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    level = logging.getLevelName(text.upper())
    if not isinstance(level, int):
        raise Refused("Invalid logger-level {value}: not a logging level (DEBUG, INFO, WARNING, ERROR...)",
                      text)
    return level


def importable(value: Any) -> Any:
    """A dotted path is imported; anything else is kept as it is."""
    return import_string(value) if isinstance(value, str) else value


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a boolean")


def choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    return parse


def cycle(value: Any) -> list[str] | None:
    """Queue names in turn: a text separated by ':' (or a list of names)."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(":") if value else []
    names = [str(name).strip() for name in items if str(name).strip()]
    if value and not names:
        raise ValueError(f"{value!r} is not a list of queue names separated by ':'")
    return names or None


def number(minimum: float, maximum: float | None = None) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            result = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number") from None
        if not minimum <= result <= (maximum if maximum is not None else float("inf")):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise ValueError(f"{value!r} is not {bounds}")
        return result

    return parse


def exception_classes(value: Any) -> tuple[type[BaseException], ...]:
    """Exception classes: dotted paths separated by ',' (or a list of paths or classes)."""
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, type):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"{value!r} is not a list of exception classes")
    paths = (item.strip() for item in items if isinstance(item, str))
    classes = tuple(import_string(path if "." in path else f"builtins.{path}") for path in paths if path)
    classes += tuple(item for item in items if not isinstance(item, str))
    for found in classes:
        if not (isinstance(found, type) and issubclass(found, BaseException)):
            raise ValueError(f"{found!r} is not an exception class")
    return classes


def text(value: Any) -> str:
    return str(value)


def as_is(value: Any) -> Any:
    return value


def sequence(value: Any) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{value!r} is not a list")
    return tuple(value)


#: The most jobs a worker takes at once: a batch's shared writes pass its jobs to one Redis
#: command each, and a script passes at most about 8,000 values to one.
PREFETCH_MAX = 1000


@dataclass(eq=False)
class WorkerSettings:
    """The options of a worker (see the module's docstring)."""

    # --- the options of redis-limpyd-jobs' documented Worker, in its ``parameters`` order
    queues: list[str] | None = option(
        None, queue_names, "Name of the Queues to handle, comma separated", "--queues=queue1,queue2")
    callback: Callable[..., Any] | None = option(
        None, importable, "The callback to call for each job", "--callback=my.module.callback")
    queue_model: type[Queue] = option(
        Queue, importable, "Name of the Queue model to use", "--queue-model=my.module.QueueModel")
    error_model: type[Error] = option(
        Error, importable, "Name of the Error model to use", "--error-model=my.module.ErrorModel")
    logger_name: str = option(
        LOGGER_NAME, text, "The base name to use for logging", "--logger-name=my-workers")
    logger_level: int = option(
        logging.INFO, log_level, "The level to use for logging", "--logger-level=ERROR")
    save_errors: bool = option(
        True, boolean, "Save job errors in the Error model", "--save-errors", switch=True)
    save_tracebacks: bool = option(
        True, boolean, "Save exception tracebacks on job error in the Error model", "--save-tracebacks",
        switch=True)
    max_loops: int | None = option(
        1000, optional(integer(0)),
        "Max number of jobs to run, then exit (0 or None: no limit; 1000 by default)",
        "--max-loops=100")
    max_duration: timedelta | None = option(
        None, optional(duration), "Max duration of the worker, in seconds (0 or None, the default: no limit)",
        "--max-duration=3600")
    terminate_gracefuly: bool = option(
        True, boolean, "Intercept SIGTERM and SIGINT signals to stop gracefuly", "--terminate-gracefuly",
        switch=True)
    timeout: float = option(
        30, seconds, "Max delay (seconds) to wait for a job before looping again (0 for no timeout)",
        "--timeout=30")
    fetch_priorities_delay: float = option(
        25, seconds, "Min delay (seconds) to wait before fetching new priority queues",
        "--fetch-priorities-delay=20")
    fetch_delayed_delay: float = option(
        25, seconds, "Min delay (seconds) to wait before updating delayed jobs", "--fetch-delayed-delay=20")
    requeue_times: int = option(
        0, integer(0), "Number of time to requeue a failing job (default to 0)", "--requeue-times=5")
    requeue_priority_delta: int = option(
        -1, integer(),
        "Added to the priority of a failed job when it is requeued (-1: one level lower)",
        "--requeue-priority-delta=-2")
    requeue_delay_delta: float = option(
        30, seconds, "How much time (seconds) to delay a job to be requeued (default to 30)",
        "--requeue-delay-delta=15")
    requeue_backoff: float = option(
        1, number(1),
        "Multiply the delay of each retry after the first by this (2: 30s, 60s, 120s...)",
        "--requeue-backoff=2")
    requeue_jitter: float = option(
        0, number(0, 1),
        "Vary each retry's delay randomly by up to this fraction of it (0.1: 10 percent more or less)",
        "--requeue-jitter=0.1")
    requeue_max_delay: float | None = option(
        None, optional(seconds), "The longest delay of a retry, in seconds (None: no limit)",
        "--requeue-max-delay=3600")
    never_retry: tuple[type[BaseException], ...] = option(
        (), exception_classes, "Exceptions a failed job is never retried for, comma separated",
        "--never-retry=myapp.errors.Fatal,KeyError")
    burst: bool = option(
        False, boolean, "Run until the queues are empty, then exit (jobs delayed to later stay delayed)",
        "--burst")
    prefetch: int = option(
        1, integer(1, PREFETCH_MAX),
        "Jobs taken in one round trip (at most 1000); they run before higher-priority jobs added meanwhile",
        "--prefetch=8")
    # --- reliability
    execution_mode: str = option(
        "inprocess", choice("inprocess", "fork", "prefork", "threads", "asyncio"),
        "Where jobs run: inprocess, fork (a child per job), prefork, threads or asyncio (--concurrency)",
        "--execution-mode=fork")
    concurrency: int = option(
        1, integer(1, PREFETCH_MAX),
        "Jobs in flight at once (at most 1000): async ones on an event loop, others in threads",
        "--concurrency=100")
    job_timeout: float | None = option(
        None, optional(clean_timeout),
        "Seconds a job may run (a job's own `timeout` field wins); forked modes kill it", "--job-timeout=300")
    timeout_grace: float = option(
        5, seconds, "Seconds between SIGTERM and SIGKILL for a job past its timeout (forked modes)",
        "--timeout-grace=5")
    heartbeat_interval: float = option(
        10, seconds,
        "Seconds between two beats of the worker (a third of heartbeat_timeout)", "--heartbeat-interval=10")
    heartbeat_timeout: float = option(
        30, seconds, "A worker silent for this many seconds is dead: its jobs are given back",
        "--heartbeat-timeout=30")
    recovery_delay: float = option(
        15, seconds, "Seconds between two looks for jobs of dead workers (0: never, leave it to a sweeper)",
        "--recovery-delay=15")
    lost_job_max_tries: int = option(
        5, integer(1), "Attempts after which a job whose worker keeps dying ends in ERROR",
        "--lost-job-max-tries=5")
    queue_cycle: list[str] | None = option(
        None, cycle,
        "Take from queues in this ratio instead of by priority alone ('A:A:B': A twice, then B)",
        "--queue-cycle=A:A:B")
    job_modules: tuple[str, ...] = option(
        (), module_names,
        "Modules of Job models or @task functions, imported at start (the only tasks it runs)",
        "--job-modules=myapp.jobs,otherapp.tasks")
    metrics_port: int | None = option(
        None, optional(integer(0)),
        "Serve the Prometheus metrics of the worker's queues on this port (needs prometheus_client)",
        "--metrics-port=9100")
    metrics_host: str = option(
        "127.0.0.1", text, "Address the metrics port listens on (default: this machine only; 0.0.0.0: all)",
        "--metrics-host=127.0.0.1")
    # --- retention of finished jobs
    keep_finished: int | None = option(
        10000, optional(integer(0)),
        "Finished jobs kept per queue, in each of its success and errors lists (None: all)",
        "--keep-finished=10000")
    finished_ttl: float | None = option(
        None, optional(seconds),
        "Seconds after which a finished job (and its errors) is deleted (None: no limit)",
        "--finished-ttl=604800")
    purge_delay: float = option(
        60, seconds,
        "Most seconds between two purges of finished jobs (also every 250 jobs and when idle; 0: never)",
        "--purge-delay=60")
    # --- from Python only
    observers: Sequence[Any] = option(
        (), sequence, "Objects told of each step of the worker (see workers.observers)", cli=False)
    clock: Clock | None = option(None, as_is, "Where the worker reads the time (default: its queue model's)",
                                 cli=False)


#: The options, in order.
SETTINGS: tuple[Field, ...] = tuple(fields(WorkerSettings))
#: Their names: ``Worker.parameters``.
PARAMETERS: tuple[str, ...] = tuple(setting.name for setting in SETTINGS)


#: The options holding an object whose kind ``object_problem`` checks.
OBJECT_OPTIONS = ("queue_model", "error_model", "callback")


def object_problem(name: str, value: Any) -> str | None:
    """What is wrong with the value of an option of ``OBJECT_OPTIONS`` (None: nothing)."""
    if name == "callback":
        fine = value is None or callable(value)
        return None if fine else f"is not callable (its type: {type(value).__name__})"
    base = Queue if name == "queue_model" else Error
    fine = isinstance(value, type) and issubclass(value, base)
    return None if fine else f"is not {base.__name__} or a subclass"


def check(values: Any) -> None:
    """Check what each option cannot tell alone, on an object holding cleaned options."""
    if not values.queues:
        raise ConfigurationException("A worker needs queues: pass queues='name' or queues=['a', 'b']")
    unknown = set(values.queue_cycle or ()) - set(values.queues)
    if unknown:
        raise ConfigurationException(
            f"queue_cycle names {', '.join(sorted(unknown))}, not in queues {','.join(values.queues)}")
    for name in OBJECT_OPTIONS:
        problem = object_problem(name, getattr(values, name))
        if problem:
            raise ConfigurationException(f"{name}: {getattr(values, name)!r} {problem}")
    if values.concurrency > 1 and values.execution_mode in ("fork", "prefork"):
        raise ConfigurationException(
            f"concurrency runs jobs in the worker process: not with execution_mode {values.execution_mode} "
            "(--processes runs several processes)")
    for module in values.job_modules or ():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigurationException(f"Invalid value for job_modules (--job-modules): {exc}") from None
