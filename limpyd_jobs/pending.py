"""A scheduler of pending jobs (rache-style): what is due now, for executors of your own.

    from limpyd_jobs.pending import schedule_job, pending_jobs

    schedule_job("http://example.com/feed", schedule_in=3600, timeout=10)
    for job in pending_jobs(reschedule_in=3600):
        fetch(job["id"], timeout=job.get("timeout"))  # an int; absent if scheduled without one

Jobs are limpyd models: a ``ScheduledJob`` per job id (its data in a hash field) and a
``Schedule`` holding the sorted set of job ids by due time. Keys live under a prefix
(``pending`` by default, or the ``LIMPYD_JOBS_PENDING_PREFIX`` environment variable, or the
``prefix`` argument), so several applications can share a Redis. Every function takes an
optional redis-py ``connection`` (``Redis`` or ``StrictRedis``, decoding responses or not);
by default they use limpyd-jobs' database. Taking due jobs is atomic: two pollers never get
the same job for the same due time.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import redis
from limpyd import fields

from .connection import client_for
from .due import DueSet
from .models import BaseJobsModel, Job
from .protocol import KEYS
from .protocol.scripts import pending_delete, pending_schedule, pending_take
from .protocol.vocabulary import configured_prefix
from .validation import clean_identifier

__all__ = ["schedule_job", "pending_jobs", "delete_job", "job_details", "scheduled_jobs",
           "enqueue_pending_jobs", "pending_models"]

PREFIX_VARIABLE = "LIMPYD_JOBS_PENDING_PREFIX"
DEFAULT_PREFIX = "pending"
SCHEDULE_PK = "all"

_models: dict[str, tuple[type, type]] = {}
_raw_clients: dict[str, redis.Redis] = {}


def _prefix(prefix: str | None) -> str:
    configured = configured_prefix()
    return prefix or os.environ.get(PREFIX_VARIABLE) or (f"{configured}:{DEFAULT_PREFIX}" if configured
                                                         else DEFAULT_PREFIX)


def pending_models(prefix: str | None = None) -> tuple[type, type]:
    """The (ScheduledJob, Schedule) limpyd models for a prefix, to inspect the stored data."""
    prefix = _prefix(prefix)
    if prefix not in _models:
        scheduled_job = type("ScheduledJob", (BaseJobsModel,), {
            "__module__": __name__, "namespace": prefix,
            "id": fields.PKField(), "schedule_at": fields.InstanceHashField(), "data": fields.HashField(),
        })
        schedule = type("Schedule", (BaseJobsModel,), {
            "__module__": __name__, "namespace": prefix,
            "name": fields.PKField(), "jobs": fields.SortedSetField(),
        })
        _models[prefix] = (scheduled_job, schedule)
    return _models[prefix]


class _Target:
    """Where a call runs: the models of a prefix, and the client (returning bytes or text)."""

    def __init__(self, connection: Any, prefix: str | None) -> None:
        scheduled_job, schedule = pending_models(prefix)
        self.job_model = scheduled_job._name
        self.clock = scheduled_job.clock
        self.models = {"job_model": scheduled_job._name, "schedule_model": schedule._name,
                       "schedule_pk": SCHEDULE_PK}
        self.connection = connection if connection is not None else _default_client()
        self.schedule = DueSet(
            self.connection, KEYS.field(model=schedule._name, pk=SCHEDULE_PK, field="jobs"), self.clock)

    def data_key(self, job_id: str) -> str:
        """The hash holding a job's data."""
        return KEYS.field(model=self.job_model, pk=job_id, field="data")

    @property
    def database(self) -> "_Target":  # what the scripts expect: something with a .connection
        return self


def _default_client() -> redis.Redis:
    """A client on limpyd-jobs' database that returns bytes (data may not be text)."""
    settings = dict(BaseJobsModel.database.connection_settings)
    key = repr(sorted(settings.items()))
    if key not in _raw_clients:
        _raw_clients[key] = client_for(settings)
    return _raw_clients[key]


def _seconds(schedule_in: Any, name: str) -> float:
    if isinstance(schedule_in, timedelta):
        return schedule_in.total_seconds()
    if isinstance(schedule_in, bool) or not isinstance(schedule_in, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or a timedelta, not {schedule_in!r}")
    if not math.isfinite(schedule_in) or abs(schedule_in) > MAX_SCHEDULE:
        raise ValueError(f"{name} must be a finite number of seconds, at most 100 years, not {schedule_in!r}")
    return float(schedule_in)


#: The farthest a pending job may be scheduled, in seconds: 100 years.
MAX_SCHEDULE = 100 * 365 * 24 * 3600


def _text(value: Any) -> Any:
    """Bytes from Redis as text when they decode, as they are when they do not."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def _value(value: Any, convert: bool) -> Any:
    """A stored value as text (bytes if it does not decode); with ``convert``, the text of an
    integer written as Python writes it (``42``, not ``042`` nor ``²``) becomes that int."""
    value = _text(value)
    if convert and isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
        return number if value == str(number) else value
    return value


def schedule_job(job_id: str, schedule_in: int | float | timedelta, connection: Any = None,
                 prefix: str | None = None, **kwargs: Any) -> None:
    """Schedule ``job_id`` in ``schedule_in`` seconds (negative: already due), replacing any
    earlier schedule; ``kwargs`` are kept with the job across calls (a key set to None is removed).
    The job id becomes a job's identifier when enqueued: InvalidValue if it cannot be one."""
    clean_identifier(job_id, "a pending job id")
    if "id" in kwargs:
        raise RuntimeError("'id' is reserved: it holds the job id and cannot be job data")
    target = _Target(connection, prefix)
    at = target.clock.time() + _seconds(schedule_in, "schedule_in")
    data = [part for key, value in kwargs.items()
            for part in (key, "" if value is None else value, int(value is None))]
    pending_schedule.call(target.database, **target.models, job_id=job_id, at=at, data=data)


def pending_jobs(reschedule_in: int | float | timedelta | None = None, limit: int | None = None,
                 connection: Any = None, prefix: str | None = None,
                 convert: bool = True) -> Iterator[dict[str, Any]]:
    """Yield the due jobs, oldest first, each a dict of its data with its ``id``.

    They leave the schedule, or are rescheduled ``reschedule_in`` seconds from now; with
    ``limit``, the other due jobs stay scheduled. Values come as text (bytes if they do not
    decode), but integers written as Python writes them (``42``, not ``007``), which come as
    ints, as rache returns them; ``convert=False`` leaves them as stored text.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise TypeError(f"limit must be a positive integer or None, not {limit!r}")
    target = _Target(connection, prefix)
    now = target.clock.time()
    reschedule = "" if reschedule_in is None else now + _seconds(reschedule_in, "reschedule_in")
    taken = pending_take.call(target.database, **target.models, now_score=now, reschedule_at=reschedule,
                              limit="" if limit is None else limit)
    jobs = []  # all read before the first is handed out: one odd value never loses the others
    for job_id, data in taken:
        job = {_text(data[i]): _value(data[i + 1], convert) for i in range(0, len(data), 2)}
        job["id"] = _text(job_id)
        jobs.append(job)
    yield from jobs


def delete_job(job_id: str, connection: Any = None, prefix: str | None = None) -> None:
    """Remove a job from the scheduler, with its data."""
    target = _Target(connection, prefix)
    pending_delete.call(target.database, **target.models, job_id=job_id)


def job_details(job_id: str, connection: Any = None, prefix: str | None = None,
                convert: bool = True) -> dict[str, Any]:
    """The job's data, with its ``id`` and ``schedule_at`` (a timestamp, None if not scheduled);
    integers come as ints unless ``convert=False``, as in ``pending_jobs``."""
    target = _Target(connection, prefix)
    with target.connection.pipeline(transaction=True) as pipe:
        pipe.hgetall(target.data_key(job_id))
        pipe.zscore(target.schedule.key, job_id)
        data, score = pipe.execute()
    details = {_text(key): _value(value, convert) for key, value in data.items()}
    details["id"] = job_id
    details["schedule_at"] = None if score is None else int(score)
    return details


def scheduled_page(offset: int, limit: int, connection: Any = None,
                   prefix: str | None = None) -> list[tuple[Any, int]]:
    """``(id, timestamp)`` of the scheduled jobs ``offset`` to ``offset + limit``, in time order."""
    target = _Target(connection, prefix)
    entries = target.connection.zrange(target.schedule.key, offset, offset + limit - 1, withscores=True)
    return [(_text(job_id), int(at)) for job_id, at in entries]


def scheduled_jobs(with_times: bool = False, connection: Any = None,
                   prefix: str | None = None) -> Iterator[Any]:
    """Yield every scheduled job id in time order, or ``(id, timestamp)`` pairs."""
    target = _Target(connection, prefix)
    for job_id, at in target.schedule.entries():
        yield (_text(job_id), int(at)) if with_times else _text(job_id)


def enqueue_pending_jobs(queue_name: str | None = None, job_model: type[Job] = Job, priority: int = 0,
                         reschedule_in: int | float | timedelta | None = None, limit: int | None = None,
                         connection: Any = None, prefix: str | None = None) -> list[Job]:
    """Turn the due pending jobs into limpyd-jobs jobs (identifier = pending job id), in one
    ``add_jobs`` call; returns them. Their data stays in the scheduler (``job_details``)."""
    due = [job["id"] for job in pending_jobs(reschedule_in, limit, connection, prefix)]
    if not due:
        return []
    return job_model.add_jobs(due, queue_name=queue_name, priority=priority)
