"""Job models, queue/error subclasses and callbacks used by the tests (importable by workers)."""

from __future__ import annotations

import os

from limpyd import fields

from limpyd_jobs import Error, Job, Queue


class NamedQueue(Queue):
    """A Queue subclass with a field of its own, with a default."""

    namespace = "tests"
    description = fields.InstanceHashField(default="no description")


class DetailedError(Error):
    """An Error subclass with an extra field filled by the worker."""

    namespace = "tests"
    worker_note = fields.InstanceHashField(indexable=True)


class ResizeJob(Job):
    """A Job subclass with its own fields, queue name and run()."""

    namespace = "tests"
    queue_name = "resize"
    size = fields.InstanceHashField(default="100x100")
    owner = fields.InstanceHashField(indexable=True)
    queue_model = NamedQueue

    def run(self, queue):
        return f"resized to {self.size.hget()}"


class AlwaysCancelJob(Job):
    namespace = "tests"
    always_cancel_on_error = True


class HookJob(Job):
    """Records the hooks called, in a Redis list named after the job."""

    namespace = "tests"

    def _record(self, name, *extra):
        self.get_connection().rpush(f"hooks:{self.pk.get()}", ":".join([name, *map(str, extra)]))

    def run(self, queue):
        return "ran"

    def on_started(self, queue):
        self._record("started")

    def on_success(self, queue, result):
        self._record("success", result)

    def on_error(self, queue, exception, traceback):
        self._record("error", type(exception).__name__)

    def on_skipped(self, queue):
        self._record("skipped")

    def on_requeued(self, queue):
        self._record("requeued")

    def on_delayed(self, queue):
        self._record("delayed")


class CodedError(Exception):
    code = 418


def noop(job, queue):
    """A callback that does nothing."""


def record_execution(job, queue):
    """Append the job's identifier and this process id to the 'executions' list."""
    job.get_connection().rpush("executions", f"{job.identifier.hget()}:{os.getpid()}")


def failing(job, queue):
    raise ValueError(f"failed {job.identifier.hget()}")


def coded_failure(job, queue):
    raise CodedError("I'm a teapot")


def short_work(job, queue):
    """A few milliseconds of work, then record the execution (so kills land mid-job)."""
    import time

    time.sleep(0.005)
    record_execution(job, queue)


def wait_for_go(job, queue):
    """Note this process's pid, then wait (30 s at most) for the key "go" before ending."""
    import time

    connection = job.get_connection()
    connection.rpush("child-pids", os.getpid())
    for _ in range(3000):
        if connection.exists("go"):
            break
        time.sleep(0.01)
    record_execution(job, queue)


_direct = {}


def chaos_work(job, queue):
    """A few milliseconds of work, then note the run on Redis itself (CHAOS_DIRECT_PORT): the
    note does not suffer the faults of the network the worker talks through."""
    import time

    import redis

    time.sleep(float(os.environ.get("CHAOS_WORK_SECONDS", 0.002)))
    port = int(os.environ["CHAOS_DIRECT_PORT"])
    client = _direct.get(port) or _direct.setdefault(port, redis.Redis(port=port))
    client.rpush("executions", job.identifier.hget())


class PatientJob(Job):
    """A Job subclass with retry settings of its own."""

    namespace = "tests"
    requeue_times = 3
    requeue_delay_delta = 10
    requeue_backoff = 3
    never_retry = (KeyError,)


def in_flight_until_go(job, queue):
    """Note ``pid:identifier`` in the list "in-flight", wait (30 s at most) for the key "go", then
    record the execution: run by a worker with concurrency, in one of its threads."""
    import time

    connection = job.get_connection()
    connection.rpush("in-flight", f"{os.getpid()}:{job.identifier.hget()}")
    for _ in range(3000):
        if connection.exists("go"):
            break
        time.sleep(0.01)
    record_execution(job, queue)


async def async_in_flight_until_go(job, queue):
    """``in_flight_until_go`` as a coroutine, on the worker's event loop."""
    import asyncio

    connection = job.get_connection()
    connection.rpush("in-flight", f"{os.getpid()}:{job.identifier.hget()}")
    for _ in range(3000):
        if connection.exists("go"):
            break
        await asyncio.sleep(0.01)
    record_execution(job, queue)
