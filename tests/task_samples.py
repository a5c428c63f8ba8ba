"""Tasks the tests of tasks enqueue, in a module workers import (--job-modules): no tests here."""

from __future__ import annotations

import asyncio
import os
import time

from limpyd_jobs import task
from limpyd_jobs.models import Job


def redis():
    return Job.get_connection()


@task
def add(a, b):
    return a + b


@task
def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@task
def same(value):
    return value


@task
def fails(message):
    raise ValueError(message)


class Boom(Exception):
    """An exception of this module (its path is task_samples.Boom)."""


@task
def booms():
    raise Boom("boom")


@task(retries=3, retry_delay=0)
def flaky(key, failures):
    """Fails ``failures`` times (counted in Redis), then returns the number of runs."""
    runs = redis().incr(key)
    if runs <= failures:
        raise RuntimeError(f"run {runs} fails")
    return runs


@task(retries=5, retry_delay=0, never_retry=(KeyError,))
def never_for_key_errors():
    redis().incr("never-runs")
    raise KeyError("not retried")


@task
def record(name):
    redis().rpush("order", name)
    return name


@task
def returns_a_set():
    return {1, 2}


@task
async def async_add(a, b):
    await asyncio.sleep(0)
    return {"sum": a + b, "loop": asyncio.get_running_loop() is not None}


@task(unique=True)
def unique_add(a, b):
    return a + b


@task(queue_name="emails", priority=5, retries=2, retry_delay=10, timeout=30, result_ttl=60)
def configured(x):
    return x


@task
def waits_for_go(marker):
    """Tells it started (its pid in ``started:<marker>``), then runs until the ``go`` key exists."""
    redis().rpush(f"started:{marker}", os.getpid())
    while not redis().exists("go"):
        time.sleep(0.01)
    redis().incr(f"runs:{marker}")
    return marker


@task(retries=1, retry_delay=10)
def fails_then_waits():
    raise RuntimeError("retried in 10 seconds")


@task(timeout=0.2)
def sleeps():
    time.sleep(30)
