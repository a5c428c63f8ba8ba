"""Operations over shards: one by queue name runs in that queue's shard, one by job in the job's,
one over everything in each shard in turn, its results merged. Unsharded, each runs as written."""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from .. import shards

F = TypeVar("F", bound=Callable[..., Any])
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("limpyd_jobs_fanout", default=False)


def in_queue_shard(function: F) -> F:
    """The operation (its first argument a queue name) runs in the shard of that queue."""
    @functools.wraps(function)
    def wrapped(name: str, *args: Any, **kwargs: Any) -> Any:
        with shards.for_queue(name):
            return function(name, *args, **kwargs)
    return wrapped  # type: ignore[return-value]


def over_shards(merge: Callable[[list[Any]], Any]) -> Callable[[F], F]:
    """The operation runs in each shard (once, if called inside another fan-out: in the current one),
    ``merge`` making one result of theirs."""
    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not shards.sharded() or _inside.get():
                return function(*args, **kwargs)
            token = _inside.set(True)
            try:
                return merge(shards.across(lambda: function(*args, **kwargs)))
            finally:
                _inside.reset(token)
        return wrapped  # type: ignore[return-value]
    return decorate


def in_job_shard(find: Callable[..., Any]) -> Callable[[F], F]:
    """The operation (its first argument a job: a JobInfo, a Job or a text ``find`` reads) runs in the
    job's shard."""
    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapped(job: Any, *args: Any, **kwargs: Any) -> Any:
            if not shards.sharded():
                return function(job, *args, **kwargs)
            if isinstance(job, str):
                job = find(job, **({"queue_model": kwargs["queue_model"]} if "queue_model" in kwargs else {}))
            with shards.using(job.shard):
                return function(job, *args, **kwargs)
        return wrapped  # type: ignore[return-value]
    return decorate


def concatenated(results: list[list[Any]]) -> list[Any]:
    """The lists of the shards, one after the other."""
    return [item for result in results for item in result]


def union(results: list[set[Any]]) -> set[Any]:
    """The sets of the shards, together."""
    return set().union(*results)


def total(results: list[int]) -> int:
    """The numbers of the shards, added."""
    return sum(results)


def first(results: list[Any]) -> Any:
    """The result of shard 0 (each shard said the same)."""
    return results[0]
