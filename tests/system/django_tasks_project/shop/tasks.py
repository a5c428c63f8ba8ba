"""The tasks of the tests' project."""

import asyncio

from django.db import connection

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

from limpyd_jobs.contrib.django.tasks import DjangoTaskJob

#: Where ``record`` writes the order tasks ran in.
ORDER_KEY = "tests:order"


def _redis():
    return DjangoTaskJob.get_connection()


@task
def add(a, b):
    return a + b


@task(queue_name="mail")
def send(to, subject="hello"):
    return {"to": to, "subject": subject, "tables": connection.introspection.table_names() is not None}


@task
def record(name):
    _redis().rpush(ORDER_KEY, name)
    return name


@task
def fail(message):
    raise KeyError(message)


@task(takes_context=True)
def flaky(context, fails):
    """Fails its first ``fails`` attempts; returns what its context says."""
    if context.attempt <= fails:
        raise RuntimeError(f"attempt {context.attempt}")
    return {"attempt": context.attempt, "id": context.task_result.id,
            "worker_ids": len(context.task_result.worker_ids)}


@task(retries=2, retry_delay=0)
def flaky_with_retries(key):
    if _redis().incr(key) < 3:
        raise ValueError("not yet")
    return "third time"


@task
async def async_add(a, b):
    await asyncio.sleep(0)
    return a + b


@task
def waits_for_go(key):
    """Says it started, then waits (30 s at most) for ``go``; counts the runs that got to their end."""
    redis = _redis()
    redis.rpush(f"started:{key}", 1)
    redis.blpop("go", timeout=30)
    redis.incr(f"runs:{key}")
    return key
