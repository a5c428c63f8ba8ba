"""Bad input is refused where it enters, with a clear error, writing nothing; malformed data
found in Redis sets that one job (or queue) aside, never stops a worker, never loses another job,
and never decides what is imported."""

from __future__ import annotations

import sys
import textwrap
from datetime import timedelta

import pytest

from limpyd_jobs import STATUSES, ConfigurationException, Error, Job, Queue, operations
from limpyd_jobs.exceptions import InvalidDelay, InvalidType, InvalidValue
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.workers import Worker


def record(job, queue):
    job.get_connection().rpush("executions", job.identifier.hget())


# --- at the API


@pytest.mark.parametrize("identifier, error", [
    (b"x", TypeError), (123, TypeError), (None, ValueError), ("", ValueError)])
def test_an_identifier_is_a_non_empty_str(identifier, error):
    with pytest.raises(error, match="identifier"):
        Job.add_job(identifier=identifier, queue_name="q")
    with pytest.raises(error, match="identifier"):
        Job.add_jobs([identifier], queue_name="q")
    assert len(Job.collection()) == 0


@pytest.mark.parametrize("priority, error", [
    (10**14, InvalidValue), (-(10**14), InvalidValue), (10**30, InvalidValue), (1.9, InvalidValue),
    ("1e+30", InvalidValue), ("²", InvalidValue), (True, InvalidType), ([1], InvalidType)])
def test_a_priority_is_an_integer_lua_holds_exactly(priority, error):
    with pytest.raises(error, match="priority"):
        Job.add_job(identifier="job:1", queue_name="q", priority=priority)
    with pytest.raises(error, match="priority"):
        Queue.get_queue("q", priority)
    assert len(Job.collection()) == len(Queue.collection()) == 0


def test_priorities_given_as_text_or_whole_floats_are_read():
    assert Job.add_job(identifier="a", queue_name="q", priority="-7").priority.hget() == "-7"
    assert Job.add_job(identifier="b", queue_name="q", priority=3.0).priority.hget() == "3"
    assert Job.add_job(identifier="c", queue_name="q", priority=10**14 - 1).priority.hget() == str(10**14 - 1)


@pytest.mark.parametrize("delay", [float("inf"), float("nan"), 1e300, 10**30, -1e300])
def test_a_delay_is_finite_and_fits_a_datetime(delay):
    with pytest.raises(InvalidDelay):
        Job.add_job(identifier="job:1", queue_name="q", delayed_for=delay)
    assert len(Job.collection()) == 0


@pytest.mark.parametrize("name", ["a,b", "", 3])
def test_a_queue_name_is_a_str_without_commas(name):
    with pytest.raises((TypeError, ValueError), match="queue name"):
        Job.add_job(identifier="job:1", queue_name=name)
    with pytest.raises((TypeError, ValueError), match="queue name"):
        Queue.get_queue(name)


@pytest.mark.parametrize("timeout", ["nan", 1e300, -1, 0, "soon", float("inf")])
def test_a_job_timeout_is_finite_and_within_a_year(timeout):
    with pytest.raises(ValueError, match="timeout"):
        Job.add_job(identifier="job:1", queue_name="q", timeout=timeout)
    assert len(Job.collection()) == 0


@pytest.mark.parametrize("options", [
    {"job_timeout": float("nan")}, {"job_timeout": 1e300}, {"timeout": float("inf")},
    {"heartbeat_interval": -1}, {"queues": ["a,b"]}, {"queues": [""]}, {"queues": 3},
    {"job_modules": "no_such_module_here"}])
def test_worker_options_are_checked(options):
    with pytest.raises(ConfigurationException):
        Worker(**{"queues": "q", "terminate_gracefuly": False, **options})


# --- found in Redis


def test_a_queue_whose_priority_is_malformed_is_left_out_and_the_others_run(make_worker, connection, caplog):
    broken = Queue.get_queue("q", 5)
    connection.hset(KEYS.hash(model=Queue._name, pk=broken.pk.get()), "priority", "1e+30")
    job = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=record, max_loops=1).run()
    assert job.status.hget() == STATUSES.SUCCESS
    assert "left out" in caplog.text and "1e+30" in caplog.text


@pytest.mark.parametrize("prefetch", [1, 3])
def test_a_job_whose_key_is_not_a_hash_is_set_aside_and_the_others_run(make_worker, connection, caplog,
                                                                         prefetch):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(3)]
    connection.delete(jobs[1].key)
    connection.set(jobs[1].key, "not a hash")  # a take reads it in the middle of a batch
    worker = make_worker(callback=record, max_loops=None, burst=True, prefetch=prefetch)
    worker.run()
    assert connection.lrange("executions", 0, -1) == ["job:0", "job:2"]  # none lost, none stopped
    queue = Queue.get_queue("q")
    aside = KEYS.queue_list(queue=KEYS.queue(model=Queue._name, pk=queue.pk.get()), list="malformed")
    assert connection.lrange(aside, 0, -1) == [jobs[1].ident]  # set aside, for an operator
    assert worker.connection.zcard(worker.running_key) == 0
    assert f"job {jobs[1].ident} found in" in caplog.text and "not a hash" in caplog.text
    assert operations.jobs("q", state="error") == [] and operations.requeue_failed("q") == 0  # not met
    assert queue.purge_finished(keep=0) == 2  # the finished jobs
    assert connection.get(jobs[1].key) == "not a hash"  # left for an operator to look at


def test_a_malformed_job_timeout_falls_back_on_the_workers(make_worker, connection, caplog):
    job = Job.add_job(identifier="job:1", queue_name="q")
    connection.hset(KEYS.hash(model=Job._name, pk=job.pk.get()), "timeout", "nan")
    make_worker(callback=record, max_loops=1, execution_mode="fork").run()
    assert job.status.hget() == STATUSES.SUCCESS
    assert "invalid job timeout" in caplog.text


def test_malformed_tries_end_a_failing_job_without_a_requeue(make_worker, connection, caplog):
    job = Job.add_job(identifier="job:1", queue_name="q")

    def corrupt_then_fail(job, queue):
        connection.hset(KEYS.hash(model=Job._name, pk=job.pk.get()), "tries", "inf")
        raise ValueError("failed")

    worker = make_worker(callback=corrupt_then_fail, max_loops=1, requeue_times=5)
    worker.run()
    assert job.status.hget() == STATUSES.ERROR and job.queued.hget() is None
    assert "malformed tries" in caplog.text
    assert worker.connection.zcard(worker.running_key) == 0


@pytest.fixture
def trap_module(tmp_path, monkeypatch):
    """A module that notes it was imported; its name is put in idents found in Redis."""
    (tmp_path / "trapmodule.py").write_text(textwrap.dedent("""
        import limpyd_jobs

        IMPORTED = True

        class Thing(limpyd_jobs.Job):
            namespace = "trap"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "trapmodule"
    sys.modules.pop("trapmodule", None)


def test_an_ident_of_an_unknown_module_is_never_imported_and_is_set_aside(make_worker, trap_module, caplog):
    queue = Queue.get_queue("q")
    queue.waiting.rpush("trapmodule.Thing:1", "__main__.Thing:1")
    job = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=record, max_loops=1).run()
    assert "trapmodule" not in sys.modules
    assert job.status.hget() == STATUSES.SUCCESS
    assert queue.errors.lmembers() == ["trapmodule.Thing:1", "__main__.Thing:1"]  # set aside, for an operator
    assert queue.waiting.lmembers() == []
    assert "is not a Job model of this process" in caplog.text


@pytest.mark.slow
def test_a_registered_job_of_an_unknown_model_ends_in_error(make_worker, trap_module, connection):
    job = Job.add_job(identifier="job:1", queue_name="q")
    queue = Queue.get_queue("q")
    # another application registered its model under this repr, and queued this job as one of it
    connection.hset(KEYS.job_models(), "trapmodule.Thing", Job._name)
    queue.waiting.lrem(0, job.ident)
    queue.waiting.rpush(f"trapmodule.Thing:{job.pk.get()}")
    worker = make_worker(callback=record, max_loops=1, max_duration=1)
    worker.run()
    assert "trapmodule" not in sys.modules
    assert job.status.hget() == STATUSES.ERROR and job.queued.hget() is None
    [error] = Error.collection(job_model_repr="trapmodule.Thing").instances()
    assert error.type.hget() == "InvalidIdent" and "not a Job model of this process" in error.message.hget()
    assert worker.connection.zcard(worker.running_key) == 0


def test_job_modules_are_imported_when_the_worker_starts(make_worker, trap_module, connection):
    make_worker(job_modules=trap_module)
    assert "trapmodule" in sys.modules
    thing = sys.modules["trapmodule"].Thing.add_job(identifier="thing:1", queue_name="q")
    make_worker(callback=record, max_loops=1).run()
    assert thing.status.hget() == STATUSES.SUCCESS


def test_a_job_with_an_unknown_status_is_skipped(make_worker, connection):
    odd = Job.add_job(identifier="odd", queue_name="q")
    connection.hset(KEYS.hash(model=Job._name, pk=odd.pk.get()), "status", "zz")
    job = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=record, max_loops=2).run()
    assert odd.queued.hget() is None and connection.lrange("executions", 0, -1) == ["job:1"]
    assert job.status.hget() == STATUSES.SUCCESS


def test_a_delay_given_as_a_timedelta_is_checked_too():
    with pytest.raises(InvalidDelay):
        Job.add_job(identifier="job:1", queue_name="q", delayed_for=timedelta.max)
