"""Drop-in compatibility with redis-limpyd-jobs 2: what an application written against its
documentation (the seed) and its stored data (key layout, field formats) relies on.

Sections follow the compatibility contract: the WorkerConfig, stored datetimes, STATUSES,
add_job with fields of any kind, the models' base (RelatedModel, collections), the Worker, the
Job methods, the Queue properties, and a Redis loaded by hand with data in the original's formats.
"""

from __future__ import annotations

import calendar
import logging
import re
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from importlib.metadata import version as distribution_version

import compat_app
import pytest
from compat_app import (
    CompatError,
    CompatQueue,
    CompatWorker,
    OwnedJob,
    Owner,
    RichJob,
    SomeJob,
    record_callback,
)
from limpyd.contrib.collection import ExtendedCollectionManager
from limpyd.exceptions import DoesNotExist, UniquenessError
from limpyd_extensions import related

from limpyd_jobs import STATUSES, ConfigurationException, Error, Job, LimpydJobsException, Queue, __version__
from limpyd_jobs.cli.worker import main
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.workers import Worker, WorkerConfig

LIMPYD_VERSION = distribution_version("redis-limpyd")


@pytest.fixture(autouse=True)
def _fresh_app_records():
    compat_app.RAN.clear()
    compat_app.SETUP_CALLS.clear()
    yield
    compat_app.RAN.clear()
    compat_app.SETUP_CALLS.clear()


@pytest.fixture
def db_arg(redis_server):
    return f"--database=127.0.0.1:{redis_server.port}:0"


def naive_utc(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime (whatever the clock gives, aware or not)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def as_naive(moment: datetime) -> datetime:
    """A parsed datetime, naive; an aware one must be UTC."""
    if moment.tzinfo is not None:
        assert moment.utcoffset() == timedelta(0), moment
        moment = moment.replace(tzinfo=None)
    return moment


def utc_score(naive: datetime) -> float:
    """The timestamp of a naive UTC datetime, as a delayed set scores it."""
    return calendar.timegm(naive.timetuple()) + naive.microsecond / 1_000_000


def job_hash(job) -> str:
    return f"{job._name}:{job.pk.get()}:hash"


# --- 1. WorkerConfig


def test_worker_config_takes_argv_with_the_program_name_first(db_arg):
    config = WorkerConfig(["/usr/local/bin/limpyd-jobs-worker", "--queues=foo,bar", db_arg, "--no-title"])
    assert config.prog_name == "limpyd-jobs-worker"
    assert config.options.queues == "foo,bar"
    assert config.options.database == db_arg.split("=", 1)[1]
    assert config.options.update_title is False


def test_worker_config_reads_sys_argv_when_given_nothing(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/opt/app/bin/my-worker", "--queues=foo"])
    config = WorkerConfig()
    assert config.prog_name == "my-worker"
    assert config.options.queues == "foo"


def test_worker_config_options_not_given_are_defaults_or_none():
    options = WorkerConfig(["prog", "--queues=foo"]).options
    assert options.queue_model is Queue
    assert options.error_model is Error
    assert options.worker_class is Worker
    assert options.callback is None
    assert options.database is None
    assert options.update_title is True
    for name in ("max_loops", "max_duration", "timeout", "fetch_priorities_delay", "fetch_delayed_delay",
                 "requeue_times", "requeue_priority_delta", "requeue_delay_delta"):
        assert getattr(options, name) is None, name


def test_worker_config_model_defaults_come_from_the_worker_class():
    options = WorkerConfig(["prog", "--queues=foo", "--worker-class=compat_app.CompatWorker"]).options
    assert options.worker_class is CompatWorker
    assert options.queue_model is CompatQueue
    assert options.error_model is CompatError


def test_worker_config_options_are_parsed_and_imported():
    options = WorkerConfig([
        "prog", "--queues=foo,bar", "--queue-model=compat_app.CompatQueue",
        "--error-model=compat_app.CompatError", "--worker-class=compat_app.CompatWorker",
        "--callback=compat_app.record_callback", "--max-loops=5", "--max-duration=60", "--timeout=2",
        "--fetch-priorities-delay=3", "--fetch-delayed-delay=4", "--requeue-times=1",
        "--requeue-priority-delta=-2", "--requeue-delay-delta=15",
    ]).options
    assert options.queues == "foo,bar"
    assert options.queue_model is CompatQueue and options.error_model is CompatError
    assert options.worker_class is CompatWorker
    assert options.callback is record_callback
    assert (options.max_loops, options.max_duration, options.timeout) == (5, 60, 2)
    assert (options.fetch_priorities_delay, options.fetch_delayed_delay) == (3, 4)
    assert (options.requeue_times, options.requeue_priority_delta, options.requeue_delay_delta) == (1, -2, 15)


def test_worker_config_execute_runs_the_worker_it_made(db_arg):
    job = Job.add_job(identifier="job:1", queue_name="q")
    config = WorkerConfig(["limpyd-jobs-worker", "--queues=q", "--callback=compat_app.record_callback",
                           "--max-loops=1", "--timeout=1", db_arg, "--no-title", "--no-terminate-gracefuly"])
    config.execute()
    assert isinstance(config.worker, Worker)
    assert config.worker.queues == ["q"] and config.worker.max_loops == 1
    assert config.worker.num_loops == 1
    assert compat_app.RAN == [job.ident]
    assert job.status.hget() == STATUSES.SUCCESS


def test_seed_style_worker_config_subclass_instantiated_directly(db_arg):
    job = Job.add_job(identifier="job:1", queue_name="q")
    config = compat_app.MyWorkerConfig([
        "limpyd-jobs-worker", "--queues=q", "--callback=compat_app.record_callback", "--max-loops=1",
        "--timeout=1", db_arg, "--no-title", "--no-terminate-gracefuly"])
    assert compat_app.SETUP_CALLS == ["setup"]
    config.execute()
    assert compat_app.RAN == [job.ident]
    assert job.status.hget() == STATUSES.SUCCESS


def test_seed_style_worker_config_subclass_through_the_command(db_arg):
    job = Job.add_job(identifier="job:1", queue_name="q")
    code = main(["--worker-config=compat_app.MyWorkerConfig", "--queues=q",
                 "--callback=compat_app.record_callback", "--max-loops=1", "--timeout=1", db_arg,
                 "--no-title", "--no-terminate-gracefuly"])
    assert code == 0
    assert compat_app.SETUP_CALLS == ["setup"]
    assert compat_app.RAN == [job.ident]
    assert job.status.hget() == STATUSES.SUCCESS


def test_version_names_the_program_limpyd_jobs_and_redis_limpyd(capsys):
    expected_versions = f"(limpyd-jobs {__version__}, redis-limpyd {LIMPYD_VERSION})"
    with pytest.raises(SystemExit) as exit_info:
        WorkerConfig(["/usr/local/bin/limpyd-jobs-worker", "--version"])
    assert exit_info.value.code in (0, None)
    assert capsys.readouterr().out.strip() == f"limpyd-jobs-worker {__version__} {expected_versions}"


def test_the_version_module_of_redis_limpyd_jobs_2_holds_ours():
    from limpyd_jobs.version import EXACT_VERSION, VERSION

    assert EXACT_VERSION == __version__
    assert VERSION == tuple(int(part) for part in __version__.split(".")[:3])


def test_get_version_is_the_parenthesised_versions():
    config = WorkerConfig(["prog", "--queues=foo"])
    assert config.get_version() == f"(limpyd-jobs {__version__}, redis-limpyd {LIMPYD_VERSION})"


def test_version_through_the_command(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/limpyd-jobs-worker"])
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"limpyd-jobs-worker {__version__} (limpyd-jobs {__version__}, redis-limpyd {LIMPYD_VERSION})")


SEED_HELP_FLAGS = (
    "--pythonpath", "--worker-config", "--print-options", "--dry-run", "--queues", "--queue-model",
    "--error-model", "--worker-class", "--callback", "--logger-name", "--logger-level", "--save-errors",
    "--no-save-errors", "--save-tracebacks", "--no-save-tracebacks", "--max-loops", "--max-duration",
    "--terminate-gracefuly", "--no-terminate-gracefuly", "--timeout", "--fetch-priorities-delay",
    "--fetch-delayed-delay", "--requeue-times", "--requeue-priority-delta", "--requeue-delay-delta",
    "--database", "--no-title", "--version", "-h", "--help",
)


def test_help_lists_every_option_of_the_seed_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        WorkerConfig(["limpyd-jobs-worker", "--help"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    missing = [flag for flag in SEED_HELP_FLAGS
               if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", out)]
    assert missing == []


# --- 2. stored datetimes: str(naive UTC datetime); the older '+00:00' form still read


def test_added_start_and_end_are_stored_as_naive_utc_strings(make_worker, clock, connection):
    clock.advance(0.123456)
    added_at = naive_utc(clock.now())
    job = Job.add_job(identifier="job:1", queue_name="q")
    started = []

    def work_two_and_a_half_seconds(job, queue):
        started.append(naive_utc(clock.now()))
        clock.advance(2.5)

    make_worker(callback=work_two_and_a_half_seconds, max_loops=1).run()
    stored = connection.hgetall(job_hash(job))
    assert stored["added"] == str(added_at)
    assert stored["start"] == str(started[0])
    assert stored["end"] == str(started[0] + timedelta(seconds=2.5))
    assert job.duration == timedelta(seconds=2.5)


def test_delayed_until_is_stored_as_a_naive_utc_string(clock, connection):
    clock.advance(0.5)
    job = Job.add_job(identifier="later", queue_name="q", delayed_for=30)
    assert job.status.hget() == STATUSES.DELAYED
    expected = naive_utc(clock.now()) + timedelta(seconds=30)
    assert connection.hget(job_hash(job), "delayed_until") == str(expected)


def test_an_aware_delayed_until_is_converted_to_utc(clock, connection):
    utc_moment = naive_utc(clock.now()) + timedelta(days=10, microseconds=250000)
    in_paris_summer = utc_moment.replace(tzinfo=timezone.utc).astimezone(timezone(timedelta(hours=2)))
    job = Job.add_job(identifier="later", queue_name="q", delayed_until=in_paris_summer)
    assert job.status.hget() == STATUSES.DELAYED
    assert connection.hget(job_hash(job), "delayed_until") == str(utc_moment)
    delayed_key = Queue.get_queue("q").delayed.key
    assert connection.zscore(delayed_key, job.ident) == pytest.approx(utc_score(utc_moment), abs=1e-6)


def test_duration_reads_dates_in_the_older_offset_form(connection):
    old = Job.add_job(identifier="old", queue_name="q")
    connection.hset(job_hash(old), mapping={"start": "2026-11-23 18:31:41.774457+00:00",
                                            "end": "2026-11-23 18:31:44.274457+00:00"})
    mixed = Job.add_job(identifier="mixed", queue_name="q")
    connection.hset(job_hash(mixed), mapping={"start": "2026-11-23 18:31:41.774457+00:00",
                                              "end": "2026-11-23 18:31:44.274457"})
    assert old.duration == timedelta(seconds=2.5)
    assert mixed.duration == timedelta(seconds=2.5)


def test_a_delayed_until_in_the_older_offset_form_still_delays_then_runs(make_worker, clock, connection):
    clock.advance(0.774457)
    job = Job.add_job(identifier="old-delay", queue_name="q")
    until = naive_utc(clock.now()) + timedelta(seconds=30)
    job.status.hset(STATUSES.DELAYED)
    connection.hset(job_hash(job), "delayed_until", str(until.replace(tzinfo=timezone.utc)))  # ...+00:00
    make_worker(callback=record_callback, max_loops=1).run()  # takes it, finds it DELAYED
    assert compat_app.RAN == []
    delayed_key = Queue.get_queue("q").delayed.key
    assert connection.zscore(delayed_key, job.ident) == pytest.approx(utc_score(until), abs=1e-6)
    clock.advance(31)
    make_worker(callback=record_callback, max_loops=1).run()
    assert compat_app.RAN == [job.ident]
    assert job.status.hget() == STATUSES.SUCCESS


def test_error_dates_are_stored_to_the_second(connection):
    job = Job.add_job(identifier="failing", queue_name="q")
    error = Error.add_error(queue_name="q", job=job, error=ValueError("boom"),
                            when=datetime(2026, 11, 23, 18, 31, 41, 774457))
    stored = connection.hgetall(f"{Error._name}:{error.pk.get()}:hash")
    assert (stored["date_time"], stored["date"], stored["time"]) == (
        "2026-11-23 18:31:41", "2026-11-23", "18:31:41")


def test_errors_saved_by_the_worker_are_stored_to_the_second(make_worker, clock, connection):
    clock.advance(0.5)
    job = Job.add_job(identifier="failing", queue_name="q")

    def fail(job, queue):
        raise ValueError("boom")

    make_worker(callback=fail, max_loops=1).run()
    error = Error.collection_for_job(job).instances()[0]
    now = naive_utc(clock.now())
    stored = connection.hgetall(f"{Error._name}:{error.pk.get()}:hash")
    assert (stored["date_time"], stored["date"], stored["time"]) == (
        now.strftime("%Y-%m-%d %H:%M:%S"), now.strftime("%Y-%m-%d"), now.strftime("%H:%M:%S"))


def test_error_datetime_parses_date_time_with_or_without_microseconds():
    common = {"job_model_repr": "limpyd_jobs.models.Job", "job_pk": "1", "identifier": "x", "queue_name": "q"}
    new = Error(date_time="2026-11-23 18:31:41", **common)
    old = Error(date_time="2026-11-23 18:31:41.774457", **common)
    assert as_naive(new.datetime) == datetime(2026, 11, 23, 18, 31, 41)
    assert as_naive(old.datetime) == datetime(2026, 11, 23, 18, 31, 41, 774457)


# --- 3. STATUSES: a dict with attribute access and by_value


def test_statuses_is_a_dict_of_the_six_statuses():
    assert isinstance(STATUSES, dict)
    assert dict(STATUSES.items()) == {"WAITING": "w", "DELAYED": "d", "RUNNING": "r", "SUCCESS": "s",
                                      "ERROR": "e", "CANCELED": "c"}


def test_statuses_by_key_and_by_attribute():
    assert STATUSES["SUCCESS"] == "s"
    assert STATUSES.SUCCESS == "s"


def test_statuses_by_value():
    assert STATUSES.by_value("s") == "SUCCESS"
    assert STATUSES.by_value("zz", "UNKNOWN") == "UNKNOWN"
    with pytest.raises(ValueError):
        STATUSES.by_value("zz")


# --- 4. add_job sets the fields of a Job subclass, of any kind, on a new job only


RICH_VALUES = {"plain": "p1", "text": "t1", "indexed": "i1", "when": "2026-01-02 03:04:05", "label": "beta",
               "code": "C1", "tags": ["a", "b"], "steps": ["s1", "s2"]}


def read_rich(pk):
    job = RichJob(pk)
    return {"plain": job.plain.hget(), "text": job.text.get(), "indexed": job.indexed.hget(),
            "when": job.when.hget(), "label": job.label.hget(), "code": job.code.hget(),
            "tags": sorted(job.tags.smembers()), "steps": job.steps.lmembers()}


def test_add_job_sets_fields_of_every_kind_on_a_new_job():
    job = RichJob.add_job(identifier="rich:1", **RICH_VALUES)
    assert read_rich(job.pk.get()) == RICH_VALUES
    assert job.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("rich").waiting.lmembers() == [job.ident]


def test_add_job_fields_are_filterable_through_collections():
    first = RichJob.add_job(identifier="rich:1", **RICH_VALUES).pk.get()
    second = RichJob.add_job(identifier="rich:2", plain="p2", indexed="i2", when="2026-03-04 05:06:07",
                             label="alpha", code="C2").pk.get()
    assert set(RichJob.collection(indexed="i1")) == {first}
    assert set(RichJob.collection(code="C2")) == {second}
    assert set(RichJob.collection(when__date="2026-01-02")) == {first}
    assert set(RichJob.collection(when__gte="2026-02-01")) == {second}
    assert set(RichJob.collection(label__startswith="be")) == {first}
    assert set(RichJob.collection(label__lt="b")) == {second}


def test_add_job_for_a_queued_identifier_leaves_the_existing_fields_unchanged():
    first = RichJob.add_job(identifier="rich:1", **RICH_VALUES)
    again = RichJob.add_job(identifier="rich:1", plain="p9", text="t9", indexed="i9",
                            when="2026-09-09 09:09:09", label="zeta", code="C9", tags=["z"], steps=["s9"])
    assert again.pk.get() == first.pk.get()
    assert read_rich(first.pk.get()) == RICH_VALUES
    assert list(RichJob.collection(indexed="i9")) == []
    assert list(RichJob.collection(code="C9")) == []


def snapshot(connection) -> dict:
    """Every key and its content (but the max_pk counters, which limpyd may move on a failed create)."""
    readers = {"hash": connection.hgetall, "set": connection.smembers, "string": connection.get,
               "list": lambda key: connection.lrange(key, 0, -1),
               "zset": lambda key: connection.zrange(key, 0, -1, withscores=True)}
    return {key: (kind, readers[kind](key)) for key in connection.keys("*") if not key.endswith(":max_pk")
            for kind in [connection.type(key)]}


def test_a_unique_field_refuses_a_second_job_and_leaves_nothing_of_it(connection):
    first = RichJob.add_job(identifier="rich:1", **RICH_VALUES)
    before = snapshot(connection)
    with pytest.raises(UniquenessError):
        RichJob.add_job(identifier="rich:2", plain="p2", text="t2", indexed="i2", code="C1", tags=["x"],
                        steps=["y"])
    assert snapshot(connection) == before
    assert list(RichJob.collection(identifier="rich:2")) == []
    assert list(RichJob.collection()) == [first.pk.get()]
    assert Queue.get_queue("rich").waiting.lmembers() == [first.ident]
    assert read_rich(first.pk.get()) == RICH_VALUES


# --- 5. the models' base: limpyd_extensions' RelatedModel, ExtendedCollectionManager, set_fields


def test_base_jobs_model_is_a_related_model():
    assert issubclass(BaseJobsModel, related.RelatedModel)


def test_add_job_takes_a_foreign_key_listed_on_the_other_side():
    alice, bob = Owner(name="alice"), Owner(name="bob")
    by_instance = OwnedJob.add_job(identifier="owned:1", queue_name="q", owner=alice)
    by_pk = OwnedJob.add_job(identifier="owned:2", queue_name="q", owner=alice.pk.get())
    other = OwnedJob.add_job(identifier="owned:3", queue_name="q", owner=bob)
    assert by_instance.owner.hget() == by_pk.owner.hget() == alice.pk.get()
    assert set(Owner(alice.pk.get()).owned_jobs()) == {by_instance.pk.get(), by_pk.pk.get()}
    assert set(bob.owned_jobs()) == {other.pk.get()}
    assert set(OwnedJob.collection(owner=bob.pk.get())) == {other.pk.get()}


def test_collections_are_extended_collection_managers():
    Job.add_job(identifier="b", queue_name="q")
    Job.add_job(identifier="a", queue_name="q")
    done = Job.add_job(identifier="c", queue_name="q")
    done.status.hset(STATUSES.SUCCESS)
    waiting = Job.collection(status=STATUSES.WAITING)
    assert isinstance(waiting, ExtendedCollectionManager)
    assert sorted(job.identifier.hget() for job in waiting.instances()) == ["a", "b"]
    assert list(waiting.sort(by="identifier", alpha=True).values("identifier")) == [
        {"identifier": "a"}, {"identifier": "b"}]


def test_set_fields_sets_several_fields_and_their_indexes():
    job = RichJob.add_job(identifier="rich:1", plain="p1", indexed="i1")
    job.set_fields(plain="p2", indexed="i2")
    assert RichJob(job.pk.get()).plain.hget() == "p2"
    assert list(RichJob.collection(indexed="i2")) == [job.pk.get()]
    assert list(RichJob.collection(indexed="i1")) == []


# --- 6. the Worker


def test_wait_for_job_returns_none_when_the_wait_times_out(make_worker):
    Queue.get_queue("q")
    worker = make_worker()
    worker.update_keys()
    assert worker.wait_for_job() is None


def test_wait_for_job_returns_the_queue_and_the_job(make_worker):
    job = Job.add_job(identifier="job:1", queue_name="q", priority=1)
    worker = make_worker()
    worker.update_keys()
    queue, got = worker.wait_for_job()
    assert got.ident == job.ident
    assert queue.pk.get() == Queue.get_queue("q", 1).pk.get()


def test_must_stop_when_end_forced(make_worker):
    worker = make_worker()
    assert worker.must_stop() is False
    worker.end_forced = True
    assert worker.must_stop() is True


def test_must_stop_on_an_end_signal_only_when_terminating_gracefuly(make_worker):
    worker = make_worker()  # terminate_gracefuly=False: no handler installed
    worker.end_signal_caught = True
    assert worker.must_stop() is False
    worker.terminate_gracefuly = True
    assert worker.must_stop() is True


def test_must_stop_when_max_loops_is_reached(make_worker):
    worker = make_worker(max_loops=3)
    worker.num_loops = 2
    assert worker.must_stop() is False
    worker.num_loops = 3
    assert worker.must_stop() is True


def test_must_stop_when_a_naive_wanted_end_date_is_passed(make_worker):
    worker = make_worker()
    worker.wanted_end_date = datetime.utcnow() + timedelta(hours=1)
    assert worker.must_stop() is False
    worker.wanted_end_date = datetime.utcnow() - timedelta(seconds=1)
    assert worker.must_stop() is True


def test_run_dates_are_naive_utc(make_worker):
    Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker(callback=record_callback, max_loops=1, max_duration=3600)
    before = datetime.utcnow()
    worker.run()
    after = datetime.utcnow()
    assert worker.start_date.tzinfo is None and worker.end_date.tzinfo is None
    assert worker.wanted_end_date.tzinfo is None
    assert before <= worker.start_date <= worker.end_date <= after
    assert worker.wanted_end_date == worker.start_date + timedelta(seconds=3600)


class EndsAtWorker(Worker):
    """Sets its own end, as the seed's attributes allow a subclass to."""

    end_in = timedelta(hours=1)

    def run_started(self):
        super().run_started()
        self.wanted_end_date = datetime.utcnow() + self.end_in


def test_a_subclass_may_set_a_naive_wanted_end_date():
    job = Job.add_job(identifier="job:1", queue_name="q")
    EndsAtWorker("q", callback=record_callback, max_loops=1, timeout=0.05, terminate_gracefuly=False).run()
    assert compat_app.RAN == [job.ident]
    late = Job.add_job(identifier="job:2", queue_name="q")
    worker = EndsAtWorker("q", callback=record_callback, max_loops=1, timeout=0.05, terminate_gracefuly=False)
    worker.end_in = timedelta(seconds=-1)
    worker.run()
    assert worker.num_loops == 0 and late.status.hget() == STATUSES.WAITING


def test_end_signal_twice_while_a_job_runs_lets_it_finish(make_worker):
    running = Job.add_job(identifier="job:1", queue_name="q")
    after = Job.add_job(identifier="job:2", queue_name="q")

    def signalled_twice(job, queue):
        worker.catch_end_signal(signal.SIGTERM, None)
        worker.catch_end_signal(signal.SIGTERM, None)
        return "finished"

    worker = make_worker(callback=signalled_twice)
    worker.run()
    assert running.status.hget() == STATUSES.SUCCESS
    assert running.end.hget() and running.queued.hget() is None
    assert worker.num_loops == 1 and worker.status == "terminated"
    assert after.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("q").waiting.lmembers() == [after.ident]


def test_stop_now_signal_gives_the_running_job_back_first_in_its_queue(make_worker):
    """Our SIGQUIT path (catch_stop_now_signal): the job stops at once and is given back."""
    running = Job.add_job(identifier="job:1", queue_name="q")
    after = Job.add_job(identifier="job:2", queue_name="q")

    def stopped_now(job, queue):
        worker.catch_stop_now_signal(signal.SIGQUIT, None)
        raise AssertionError("the job went on after the stop-now signal")

    worker = make_worker(callback=stopped_now)
    worker.run()
    assert running.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("q").waiting.lmembers() == [running.ident, after.ident]
    assert worker.num_loops == 1


@pytest.mark.parametrize("queues", [{"a"}, {"a": 1}, 3, ["a", 3]], ids=["set", "dict", "int", "non-string"])
def test_queues_of_a_wrong_type_are_refused(queues):
    with pytest.raises(ConfigurationException):
        Worker(queues, terminate_gracefuly=False)


@pytest.mark.parametrize("queues", ["a,b", ["a", "b"], ("a", "b")], ids=["string", "list", "tuple"])
def test_queues_as_a_string_list_or_tuple(queues):
    assert Worker(queues, terminate_gracefuly=False).queues == ["a", "b"]


def test_keys_are_ordered_by_priority_then_in_the_order_of_the_names(make_worker):
    for name, priority in (("b", 0), ("a", 1), ("b", 1), ("a", 0)):
        Queue.get_queue(name, priority)
    worker = make_worker(["b", "a"])
    worker.update_keys()
    expected = [Queue.get_queue(name, priority).waiting.key for name, priority in (("b", 1), ("a", 1),
                                                                                    ("b", 0), ("a", 0))]
    assert worker.keys == expected
    assert Queue.get_waiting_keys(["b", "a"]) == expected


def test_get_job_of_a_missing_job_raises_does_not_exist(make_worker):
    with pytest.raises(DoesNotExist):
        make_worker().get_job("limpyd_jobs.models.Job:999")


def test_get_queue_of_a_missing_queue_raises_does_not_exist(make_worker):
    Queue.get_queue("q")
    with pytest.raises(DoesNotExist):
        make_worker().get_queue(Queue.make_key(Queue._name, 999, "waiting"))


class LateQueuesWorker(Worker):
    """Records its statuses, whether run_started was called, and its looks for queues finding none."""

    def __init__(self, *args, **kwargs):
        self.statuses = []
        self.started = threading.Event()
        self.empty_looks = 0
        self.looked_twice = threading.Event()
        super().__init__(*args, **kwargs)

    def set_status(self, status):
        super().set_status(status)
        self.statuses.append(status)

    def update_keys(self):
        super().update_keys()
        if not self.keys:
            self.empty_looks += 1
            if self.empty_looks >= 2:
                self.looked_twice.set()

    def run_started(self):
        self.started.set()
        super().run_started()


def test_a_worker_without_queues_stays_starting_until_a_job_comes(threads):
    worker = LateQueuesWorker("late", callback=record_callback, max_loops=1, timeout=0.05,
                              fetch_priorities_delay=0.05, terminate_gracefuly=False)
    threads.start(worker.run)
    try:
        assert worker.looked_twice.wait(10), "the worker did not look for its queues again"
        assert set(worker.statuses) == {"starting"} and worker.status == "starting"
        assert not worker.started.is_set()
    except AssertionError:
        worker.end_forced = True
        raise
    job = Job.add_job(identifier="late:1", queue_name="late")
    threads.join()
    assert worker.started.is_set()
    assert compat_app.RAN == [job.ident]
    assert job.status.hget() == STATUSES.SUCCESS
    assert worker.statuses[0] == "starting" and worker.statuses[-1] == "terminated"


def test_a_job_deleted_while_waiting_is_consumed_logged_and_not_counted(make_worker, caplog):
    gone = Job.add_job(identifier="gone", queue_name="q")
    kept = Job.add_job(identifier="kept", queue_name="q")
    gone_ident = gone.ident
    gone.delete()
    caplog.set_level(logging.INFO, logger="limpyd-jobs")
    worker = make_worker(callback=record_callback, max_loops=1)
    worker.run()
    assert compat_app.RAN == [kept.ident]  # had the deleted one counted, max_loops=1 would stop first
    assert worker.num_loops == 1
    assert Queue.get_queue("q").waiting.lmembers() == []
    assert kept.status.hget() == STATUSES.SUCCESS
    assert any(gone_ident in record.getMessage() for record in caplog.records)


# --- 7. Job methods


def test_requeue_of_a_waiting_job_raises():
    job = Job.add_job(identifier="job:1", queue_name="q")
    with pytest.raises(LimpydJobsException):
        job.requeue(queue_name="q")
    assert job.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("q").waiting.lmembers() == [job.ident]


def test_requeue_of_a_successful_job_raises(make_worker):
    job = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=record_callback, max_loops=1).run()
    with pytest.raises(LimpydJobsException):
        job.requeue(queue_name="q")
    assert job.status.hget() == STATUSES.SUCCESS
    assert Queue.get_queue("q").waiting.lmembers() == []


def test_requeue_of_an_error_job_puts_it_back(make_worker):
    job = Job.add_job(identifier="job:1", queue_name="q")

    def fail(job, queue):
        raise ValueError("boom")

    make_worker(callback=fail, max_loops=1).run()
    assert job.status.hget() == STATUSES.ERROR
    job.requeue(queue_name="q")
    assert job.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("q").waiting.lmembers() == [job.ident]


def test_enqueue_or_delay_with_a_past_date_queues_and_clears_delayed_until():
    job = Job.add_job(identifier="job:1", queue_name="q", delayed_for=3600)
    assert job.delayed_until.hget()
    job.enqueue_or_delay(queue_name="q", delayed_until=datetime.utcnow() - timedelta(minutes=5))
    assert job.status.hget() == STATUSES.WAITING
    assert job.delayed_until.hget() is None
    assert Queue.get_queue("q").waiting.lmembers() == [job.ident]


def test_run_of_the_base_job_raises_not_implemented():
    queue = Queue.get_queue("q")
    with pytest.raises(NotImplementedError):
        Job(identifier="job:1").run(queue)


class DelayRecordingWorker(Worker):
    def __init__(self, *args, **kwargs):
        self.delayed = []
        super().__init__(*args, **kwargs)

    def job_delayed(self, job, queue):
        self.delayed.append(job.ident)
        super().job_delayed(job, queue)


def test_a_job_set_delayed_while_waiting_keeps_its_delayed_until(clock, connection):
    job = Job.add_job(identifier="job:1", queue_name="q")
    until = naive_utc(clock.now()) + timedelta(hours=1, microseconds=123456)
    job.status.hset(STATUSES.DELAYED)
    job.delayed_until.hset(str(until))
    worker = DelayRecordingWorker("q", callback=record_callback, max_loops=1, timeout=0.05,
                                  terminate_gracefuly=False)
    worker.run()
    assert worker.delayed == [job.ident]
    assert compat_app.RAN == []
    assert job.status.hget() == STATUSES.DELAYED
    assert job.delayed_until.hget() == str(until)
    queue = Queue.get_queue("q")
    assert queue.waiting.lmembers() == []
    assert connection.zscore(queue.delayed.key, job.ident) == pytest.approx(utc_score(until), abs=1e-6)


# --- 8. Queue.first_delayed and first_delayed_time are properties


def test_first_delayed_and_first_delayed_time_are_properties(clock):
    queue = Queue.get_queue("q")
    assert queue.first_delayed is None
    assert queue.first_delayed_time is None
    now = naive_utc(clock.now())
    Job.add_job(identifier="second", queue_name="q", delayed_until=now + timedelta(hours=2))
    first = Job.add_job(identifier="first", queue_name="q", delayed_until=now + timedelta(hours=1))
    ident, score = queue.first_delayed
    assert isinstance(queue.first_delayed, tuple)
    assert ident == first.ident
    assert score == pytest.approx(utc_score(now + timedelta(hours=1)), abs=1e-6)
    assert queue.first_delayed_time == pytest.approx(score, abs=1e-6)


# --- 9. a Redis holding data written by redis-limpyd-jobs 2 (loaded by hand, raw commands)

JOB = "limpyd_jobs.models.Job"
SOME = "compat_app.SomeJob"
JOB_INDEXED = ("identifier", "status", "priority", "queued")


def put(connection, model: str, pk: int, values: dict, indexed) -> None:
    """One limpyd instance: its hash, its pk in the model's collection, its EqualIndex sets."""
    connection.hset(f"jobs:{model}:{pk}:hash", mapping=values)
    connection.sadd(f"jobs:{model}:collection", pk)
    for name in indexed:
        if name in values:
            connection.sadd(f"jobs:{model}:{name}:{values[name]}", pk)


def v2_job(identifier, status, priority, added, **more):
    return {"identifier": identifier, "status": status, "priority": str(priority), "added": added, **more}


def load_v2_data(connection) -> None:
    """Two 'mail' queues (priorities 0 and 5) as redis-limpyd-jobs 2 left them:

    - queue 1 (priority 0): waiting Job 1, CANCELED Job 5 (still listed), Job 2; DELAYED Job 4,
      due; Job 7 in success (SUCCESS); Job 6 in errors (ERROR, with Error 1);
    - queue 2 (priority 5): waiting Job 3 and SomeJob 1.
    """
    put(connection, "queue", 1, {"name": "mail", "priority": "0"}, ("name", "priority"))
    put(connection, "queue", 2, {"name": "mail", "priority": "5"}, ("name", "priority"))
    connection.set("jobs:queue:max_pk", 2)

    jobs = {
        1: v2_job("mail:low-1", "w", 0, "2025-06-01 09:00:00.100000", queued="1"),
        2: v2_job("mail:low-2", "w", 0, "2025-06-01 09:00:02.300000", queued="1"),
        3: v2_job("mail:high", "w", 5, "2025-06-01 09:00:03.400000", queued="1"),
        4: v2_job("mail:delayed", "d", 0, "2025-06-01 09:00:04.500000", queued="1",
                  delayed_until="2025-06-01 09:30:00.500000"),
        5: v2_job("mail:canceled", "c", 0, "2025-06-01 09:00:01.200000", queued="1"),
        6: v2_job("mail:failed", "e", 0, "2025-06-01 08:00:00.000001", tries="1",
                  start="2025-06-01 10:00:01.000001", end="2025-06-01 10:00:03.123456"),
        7: v2_job("mail:done", "s", 0, "2025-06-01 07:00:00.654321", tries="1",
                  start="2025-06-01 07:00:01.100000", end="2025-06-01 07:00:02.200000"),
    }
    for pk, values in jobs.items():
        put(connection, "job", pk, values, JOB_INDEXED)
    connection.set("jobs:job:max_pk", 7)
    put(connection, "somejob", 1, v2_job("some:1", "w", 5, "2025-06-01 09:00:05.600000", queued="1",
                                         payload="hello"), JOB_INDEXED)
    connection.set("jobs:somejob:max_pk", 1)

    connection.rpush("jobs:queue:1:waiting", f"{JOB}:1", f"{JOB}:5", f"{JOB}:2")
    connection.zadd("jobs:queue:1:delayed", {f"{JOB}:4": utc_score(datetime(2025, 6, 1, 9, 30, 0, 500000))})
    connection.rpush("jobs:queue:1:success", f"{JOB}:7")
    connection.rpush("jobs:queue:1:errors", f"{JOB}:6")
    connection.rpush("jobs:queue:2:waiting", f"{JOB}:3", f"{SOME}:1")

    when = "2025-06-01 10:00:03.123456"  # str(datetime.utcnow()): v2 kept the microseconds
    put(connection, "error", 1, {
        "job_model_repr": JOB, "job_pk": "6", "identifier": "mail:failed", "queue_name": "mail",
        "date_time": when, "date": when[:10], "time": when[11:], "type": "ValueError", "message": "boom",
        "traceback": "Traceback (most recent call last):\nValueError: boom\n",
    }, ("job_model_repr", "job_pk", "identifier", "queue_name", "date", "type"))
    separator = ":TEXT-RANGE-SEPARATOR:"  # limpyd's SimpleDateTimeIndex on date_time
    connection.zadd("jobs:error:date_time:full", {f"{when[:19]}{separator}1": 0})
    connection.zadd("jobs:error:date_time:date:date", {f"{when[:10]}{separator}1": 0})
    connection.zadd("jobs:error:date_time:time:time", {f"{when[11:19]}{separator}1": 0})
    connection.set("jobs:error:max_pk", 1)


def test_a_worker_runs_the_jobs_left_by_redis_limpyd_jobs_2(make_worker, connection):
    assert (Queue._name, Job._name, Error._name, SomeJob._name) == (
        "jobs:queue", "jobs:job", "jobs:error", "jobs:somejob")
    load_v2_data(connection)
    ran = []

    def record(job, queue):
        ran.append(job.ident)

    worker = make_worker("mail", callback=record, max_loops=6, max_duration=15)  # 5 runs, 1 skip
    worker.run()

    high, low = [f"{JOB}:3", f"{SOME}:1"], [f"{JOB}:1", f"{JOB}:2", f"{JOB}:4"]
    assert ran[:2] == high  # priority 5 first, in list order
    assert sorted(ran[2:]) == sorted(low) and ran.index(f"{JOB}:1") < ran.index(f"{JOB}:2")
    assert worker.num_loops == 6

    def stored(ident):
        model_repr, pk = ident.rsplit(":", 1)
        return connection.hgetall(f"jobs:{'somejob' if model_repr == SOME else 'job'}:{pk}:hash")

    successes = {1: connection.lrange("jobs:queue:1:success", 0, -1),
                 2: connection.lrange("jobs:queue:2:success", 0, -1)}
    for ident, queue_pk in [*((ident, 2) for ident in high), *((ident, 1) for ident in low)]:
        job = stored(ident)
        assert job["status"] == STATUSES.SUCCESS, ident
        assert job.get("end") and "queued" not in job, ident
        assert successes[queue_pk].count(ident) == 1, ident
    assert stored(f"{SOME}:1")["payload"] == "hello"

    canceled = stored(f"{JOB}:5")
    assert f"{JOB}:5" not in ran
    assert canceled["status"] == STATUSES.CANCELED and "queued" not in canceled
    assert connection.llen("jobs:queue:1:waiting") == connection.llen("jobs:queue:2:waiting") == 0
    assert Queue.count_waiting_jobs("mail") == 0
    assert Queue.count_delayed_jobs("mail") == 0

    failed = Job.get_from_ident(f"{JOB}:6")
    errors = Error.collection_for_job(failed)
    assert list(errors) == ["1"]
    assert as_naive(Error.get(1).datetime) == datetime(2025, 6, 1, 10, 0, 3, 123456)

    again = Job.add_job(identifier="mail:done", queue_name="mail")
    assert int(again.pk.get()) > 7
    assert again.status.hget() == STATUSES.WAITING
    assert stored(f"{JOB}:7")["status"] == STATUSES.SUCCESS
    assert set(Job.collection(identifier="mail:done")) == {"7", again.pk.get()}


def test_old_due_delayed_jobs_are_moved_before_their_model_is_registered(connection):
    load_v2_data(connection)  # no worker ran yet: no Job model is registered
    assert Queue.get_queue("mail", 0).requeue_delayed_jobs() == []
    waiting = connection.lrange("jobs:queue:1:waiting", 0, -1)
    assert waiting == [f"{JOB}:1", f"{JOB}:5", f"{JOB}:2", f"{JOB}:4"]
    assert connection.zcard("jobs:queue:1:delayed") == 0


def test_old_jobs_of_unregistered_models_run_and_are_logged_with_their_identifier(make_worker, connection,
                                                                                    caplog):
    load_v2_data(connection)

    class Forgetful(Worker):
        def run_started(self):  # as if the registry were lost: each take finds its model itself
            super().run_started()
            connection.delete(KEYS.job_models())

    caplog.set_level(logging.INFO, logger="limpyd-jobs")
    # 5 runs, a skip (canceled), and the due delayed job, still DELAYED: job_delayed queues it again
    # for its (past) delayed_until, as the seed says, and it runs at the next loop
    Forgetful("mail", callback=record_callback, max_loops=7, timeout=0.05, terminate_gracefuly=False,
              max_duration=15).run()
    assert sorted(compat_app.RAN) == sorted([f"{JOB}:3", f"{SOME}:1", f"{JOB}:1", f"{JOB}:2", f"{JOB}:4"])
    assert "[mail|mail:high] starting" in caplog.text
