"""The words Python and the Lua scripts share: statuses, outcome codes and Redis key names.

This module is their only definition: the script loader writes them into every Lua source, and
Python builds keys with ``KEYS`` (``KEYS.running(worker="3f2a")``). The key table is in
docs/ARCHITECTURE.md (``python -m limpyd_jobs.protocol`` writes it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

from .. import shards
from ..constants import PREFIX_VARIABLE


class UnknownStatus(KeyError, AttributeError):
    """No status has this name: a KeyError, as redis-limpyd-jobs raised, and an AttributeError,
    as ``getattr`` and ``hasattr`` expect."""


class Statuses(dict):
    """The one-letter statuses stored in a job's ``status`` field, by name: a dict
    (``STATUSES["SUCCESS"]``, iteration over its items) whose names are also attributes
    (``STATUSES.SUCCESS``), as redis-limpyd-jobs defines it."""

    def __init__(self, **statuses: str) -> None:
        super().__init__(**statuses)
        self.__dict__.update(statuses)  # read as attributes without __getattr__: hot paths do

    def __getattr__(self, name: str) -> str:
        try:
            return self[name]
        except KeyError:
            raise UnknownStatus(f"no status named {name!r}") from None

    def by_value(self, value: str, default: str | None = None) -> str:
        """The name of the status stored as ``value`` (``"s"`` -> ``"SUCCESS"``); ``default`` for
        another value, or ValueError if no default is given."""
        for name, stored in self.items():
            if stored == value:
                return name
        if default is not None:
            return default
        raise ValueError(f"{value!r} is not a status value ({', '.join(self.values())})")


STATUSES = Statuses(WAITING="w", DELAYED="d", RUNNING="r", SUCCESS="s", ERROR="e", CANCELED="c")

#: The names of the statuses, in the order of their definition.
STATUS_NAMES = tuple(STATUSES)


class TakeOutcome(str, Enum):
    """What a take found at the head of a waiting list (Lua: ``TAKE_<NAME>``)."""

    RUN = "run"  # a WAITING job, now RUNNING under a new attempt token
    SKIP = "skip"  # a job not WAITING (canceled, delayed...): the worker skips or delays it
    MISSING = "missing"  # an ident whose job no longer exists
    UNKNOWN = "unknown"  # an ident whose model is not in the job models registry
    MALFORMED = "malformed"  # an ident whose job's key is not a hash: set aside in its queue's malformed list
    EMPTY = "empty"  # nothing waiting


class EndRefusal(str, Enum):
    """Why the end of an attempt was not written (Lua: ``END_<NAME>``)."""

    MISSING = "!missing"  # the job no longer exists
    STALE = "!stale"  # another attempt took the job since (it was recovered): this one is over


class LostJobOutcome(str, Enum):
    """What recovery did with a job of a dead worker (Lua: ``LOST_<NAME>``)."""

    REQUEUED = "requeued"  # back at the front of its queue
    FAILED = "error"  # out of attempts: ERROR


class ScheduleEvent(str, Enum):
    """The last event of a recurring schedule, stored as ``EVENT:TIMESTAMP`` (Lua: ``EVENT_<NAME>``)."""

    TML = "TML"  # its next run waits in the timeline
    ENQ = "ENQ"  # a run is in its queue
    WRK = "WRK"  # a run is running
    BAD = "BAD"  # the schedule cannot be read
    STP = "STP"  # no run left
    DIE = "DIE"  # the last run failed: not rescheduled


class CancelOutcome(str, Enum):
    """What canceling a job did (Lua: ``CANCEL_<NAME>``)."""

    CANCELED = "canceled"  # it waited: out of its queue, CANCELED and unqueued now
    MARKED = "marked"  # a worker holds it: CANCELED now, that worker's end records a skip
    ALREADY = "already"  # it was CANCELED
    FINISHED = "finished"  # SUCCESS, or ERROR for good: nothing written
    MISSING = "missing"  # no such job


class ControlOrder(str, Enum):
    """What a control key says (Lua: ``ORDER_<NAME>``)."""

    HALT = "HALT"  # the control key: workers and dispatchers stop after their current task
    STOP = "STOP"  # a worker's control key: it stops after its current job


#: Every enum the Lua scripts receive, by the prefix of their Lua names.
LUA_ENUMS: dict[str, type[Enum]] = {
    "TAKE": TakeOutcome, "END": EndRefusal, "LOST": LostJobOutcome, "EVENT": ScheduleEvent,
    "CANCEL": CancelOutcome, "ORDER": ControlOrder,
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


#: Upper bounds (seconds) of the run duration buckets the scripts count, as Prometheus' defaults.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

#: The fields of a queue's metrics hash that count its successes (see ``succeeded_count``).
SUCCESS_FIELDS = ("succeeded", *(f"s:{index}" for index in range(1, len(DURATION_BUCKETS) + 2)))


def succeeded_count(metrics: dict[str, str | None]) -> int:
    """A queue's successes from its metrics hash: ``succeeded`` (those without a duration, and
    older data's) plus the success duration buckets (``s:<bucket>``), which count the others."""
    total = 0
    for field, value in metrics.items():
        if (field == "succeeded" or field.startswith("s:")) and value and value.lstrip("-").isdigit():
            total += int(value)
    return total


class KeyTemplate:
    """One Redis key name, with ``{placeholders}``; call it with their values to get the key.

    ``{prefix}`` is filled by the ``Keys`` it is read from.
    """

    def __init__(self, template: str, kind: str, content: str) -> None:
        self.template = template
        self.kind = kind
        self.content = content
        self.name = ""
        self.parts = tuple(part for part in _PLACEHOLDER.findall(template) if part != "prefix")

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, keys: Keys | None, owner: type) -> Any:
        if keys is None:
            return self
        return _BoundKey(self, keys.prefix)


class _BoundKey:
    """A key template read from a ``Keys`` instance: its prefix is known."""

    def __init__(self, template: KeyTemplate, prefix: str) -> None:
        self.template = template
        self.prefix = prefix

    def __call__(self, **parts: Any) -> str:
        return self.template.template.format(prefix=self.prefix, **parts)


class Keys:
    """Every Redis key limpyd-jobs writes, as templates (``docs/ARCHITECTURE.md`` lists them)."""

    # --- the limpyd layout of every model (jobs, queues, errors, schedules...)
    hash = KeyTemplate("{model}:{pk}:hash", "hash",
                       "an instance's InstanceHashFields (a job: identifier, status, priority, added, "
                       "start, end, tries, delayed_until, queued, cancel_on_error, queue_key, attempt, "
                       "timeout, and subclass fields)")
    field = KeyTemplate("{model}:{pk}:{field}", "list, set, sorted set or hash",
                        "a field stored in a key of its own (a queue's lists, a timeline's runs...)")
    index = KeyTemplate("{model}:{field}:{value}", "set",
                        "EqualIndex: pks of the instances whose indexed field has this value")
    collection = KeyTemplate("{model}:collection", "set", "every pk of a model")
    max_pk = KeyTemplate("{model}:max_pk", "string", "a model's auto-increment counter")
    # --- queues
    queue = KeyTemplate("{model}:{pk}", "(a name, not a key)",
                        "a queue, as a job's `queue_key` field names it; its lists derive from it")
    queue_list = KeyTemplate("{queue}:{list}", "list or sorted set",
                             "a queue's `waiting` list (idents, taken from the left), `delayed` "
                             "sorted set (scored by due time), `success` and `errors` lists, and "
                             "`malformed` (idents a take set aside: their key is not a hash)")
    wakeup = KeyTemplate("{model}:wakeup:{name}", "list",
                         "wake-up tokens (at most 64) for the idle workers of a queue name")
    # --- ours, under the prefix
    job_models = KeyTemplate("{prefix}:job-models", "hash",
                             "Job model repr (`module.Class`) -> limpyd model name, so that scripts "
                             "find a job's hash from its ident")
    workers = KeyTemplate("{prefix}:workers", "sorted set", "worker id -> time of its last heartbeat")
    worker = KeyTemplate("{prefix}:worker:{worker}", "hash",
                         "a worker's host, pid, queues, mode, started")
    running = KeyTemplate("{prefix}:worker:{worker}:running", "sorted set",
                          "idents a worker took and has not finished, scored by when it took them")
    worker_wakeup = KeyTemplate("{prefix}:worker:{worker}:wakeup", "list",
                                "tokens that wake one worker up to read the control key")
    recovery_lock = KeyTemplate("{prefix}:recovery-lock", "string (expires)",
                                "one recovery of lost jobs at a time")
    metrics = KeyTemplate("{prefix}:metrics:{queue}", "hash",
                          "a queue's counters (started, succeeded, failed, timed_out, requeued, recovered) "
                          "and run durations (`d:<bucket>` counts, `s:<bucket>` those of successes, "
                          "which `succeeded` leaves out; `duration_us` their sum in µs, older data's "
                          "`duration_sum` in seconds), kept by the scripts")
    throughput = KeyTemplate("{prefix}:throughput:{hour}", "hash (expires)",
                             "jobs that succeeded in each minute (`MM` -> count) of an hour "
                             "(`YYYY-MM-DD HH`, UTC), all queues: the dashboard's sparkline; kept two hours")
    control = KeyTemplate("{prefix}:control", "string",
                          "`HALT` while workers and dispatchers must stop after their current task")
    purged_errors = KeyTemplate("{prefix}:purged-errors:{model}", "set",
                                "pks of the errors (of the Error model `model`) of jobs a purge deleted, "
                                "until the purging worker deleted them too (a lost reply leaves them here)")
    # --- operations (limpyd_jobs.operations, the limpyd-jobs command)
    paused = KeyTemplate("{prefix}:paused", "set",
                         "names of the queues workers take no job from (`limpyd-jobs pause`); a worker "
                         "reads it with the control key")
    worker_control = KeyTemplate("{prefix}:worker:{worker}:control", "string (expires)",
                                 "`STOP` when this worker must stop after its current job (`limpyd-jobs "
                                 "stop-workers`); a worker reads it with the control key")

    def __init__(self, prefix: str = "limpyd-jobs") -> None:
        if not prefix or not re.fullmatch(r"[\w.:-]*(\{[\w.:-]+\})?[\w.:-]*", prefix):
            raise ValueError(f"a key prefix is letters, digits and . _ : - only, with at most one hash tag "
                             f"(``{{jobs}}``: every key in one slot of a Redis Cluster), not {prefix!r}")
        self.prefix = prefix

    @classmethod
    def templates(cls) -> Iterator[KeyTemplate]:
        """Every key template, in the order they are declared."""
        for value in vars(Keys).values():
            if isinstance(value, KeyTemplate):
                yield value


class ShardKeys(Keys):
    """The keys of the process: those of the current shard (``shards.using``) when sharded."""

    @property  # type: ignore[override]
    def prefix(self) -> str:
        return shards.prefix() or self.base

    @prefix.setter
    def prefix(self, value: str) -> None:
        self.base = value


#: ``PREFIX_VARIABLE`` (``LIMPYD_JOBS_PREFIX``) puts every key limpyd-jobs writes under one prefix,
#: for Redis ACLs (a user limited to ``~myapp:*``): models then live in the namespace ``myapp``
#: instead of ``jobs``, the keys above under ``myapp`` instead of ``limpyd-jobs``, pending jobs
#: under ``myapp:pending``; ``{jobs}`` (a hash tag) keeps them in one slot of a Redis Cluster.
#: Read when limpyd-jobs is imported; unset, today's names are kept.


def configured_prefix() -> str | None:
    """The prefix ``LIMPYD_JOBS_PREFIX`` sets, or None."""
    prefix = os.environ.get(PREFIX_VARIABLE) or None
    if prefix is not None:
        Keys(prefix)  # refuses characters a key prefix should not hold
    return prefix


#: The keys of this process (of its current shard, when sharded).
KEYS: Keys = ShardKeys(configured_prefix() or "limpyd-jobs")


def key_table(keys: Keys = KEYS) -> str:
    """The keys as a Markdown table (``docs/ARCHITECTURE.md`` holds it; ``python -m
    limpyd_jobs.protocol`` prints it)."""
    rows = ["| Python (`KEYS.`), Lua (`key_`) | key | type | content |", "|---|---|---|---|"]
    for template in keys.templates():
        shown = template.template.replace("{prefix}", keys.prefix)
        rows.append(f"| `{template.name}` | `{shown}` | {template.kind} | {template.content} |")
    return "\n".join(rows) + "\n"
