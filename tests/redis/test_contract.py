"""The seed's contract to the letter: one queued job per (identifier, queue name)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from limpyd_jobs import STATUSES, Error, Job, Queue
from limpyd_jobs.workers import Worker


class QueuedWorker(Worker):
    queues = ["carried"]


def test_another_queue_name_adds_another_job_and_loses_no_work():
    resize = Job.add_job("photo:1", "resize")
    index = Job.add_job("photo:1", "index", priority=1)
    assert index.pk.get() != resize.pk.get()
    assert Queue.get_queue("resize").waiting.lmembers() == [resize.ident]  # not moved away
    assert Queue.get_queue("index", 1).waiting.lmembers() == [index.ident]


def test_the_same_queue_name_still_finds_the_job_and_raises_its_priority():
    job = Job.add_job("photo:1", "resize")
    again = Job.add_job("photo:1", "resize", priority=3)
    assert again.pk.get() == job.pk.get()
    assert Queue.get_queue("resize").waiting.llen() == 0
    assert Queue.get_queue("resize", 3).waiting.lmembers() == [job.ident]


def test_add_jobs_follows_the_same_rule():
    first = Job.add_job("photo:1", "resize")
    jobs = Job.add_jobs([{"identifier": "photo:1", "queue_name": "resize"},
                         {"identifier": "photo:1", "queue_name": "index"},
                         {"identifier": "photo:1", "queue_name": "index", "priority": 2}])
    assert jobs[0].pk.get() == first.pk.get()
    assert jobs[1].pk.get() == jobs[2].pk.get() != first.pk.get()
    assert Queue.get_queue("index", 2).waiting.lmembers() == [jobs[1].ident]
    assert Queue.get_queue("resize").waiting.lmembers() == [first.ident]


def test_a_job_left_without_queue_key_keeps_the_rule_of_one_job_per_identifier(connection):
    old = Job.add_job("photo:1", "resize")
    connection.hdel(f"{old._name}:{old.pk.get()}:hash", "queue_key")  # as redis-limpyd-jobs 2 left it
    again = Job.add_job("photo:1", "index")
    assert again.pk.get() == old.pk.get()


def test_a_readd_is_one_round_trip(round_trips):
    Job.add_job("photo:1", "resize")
    with round_trips() as trips:
        Job.add_job("photo:1", "resize")
        Job.add_job("photo:1", "index")
    assert trips.commands == ["EVALSHA", "EVALSHA"]


# --- redis-limpyd-jobs 2's WorkerConfig, Worker and models, as its own tests use them


def test_worker_config_parses_a_command_line_without_queues_and_needs_them_to_build_the_worker():
    from limpyd_jobs.workers import WorkerConfig

    config = WorkerConfig(["prog", "--max-loops=5"])
    assert config.options.queues is None and config.options.max_loops == 5
    with pytest.raises(SystemExit):
        config.prepare_worker()
    carried = WorkerConfig(["prog", "--worker-class=test_contract.QueuedWorker"])
    assert carried.prepare_worker().queues == ["carried"]


class Holder:
    @staticmethod
    def callback(job, queue):
        return "held"


def test_a_callback_may_be_an_attribute_of_a_class():
    from limpyd_jobs.workers import WorkerConfig

    config = WorkerConfig(["prog", "--queues=q", "--callback=test_contract.Holder.callback"])
    assert config.options.callback is Holder.callback


def test_max_duration_is_a_timedelta_on_the_worker_and_seconds_in_the_options(make_worker):
    from limpyd_jobs.workers import WorkerConfig

    assert make_worker(max_duration=timedelta(minutes=1)).max_duration == timedelta(seconds=60)
    assert make_worker(max_duration=90).max_duration == timedelta(seconds=90)
    assert WorkerConfig(["prog", "--queues=q", "--max-duration=60"]).options.max_duration == 60


def test_an_unknown_status_name_raises_key_error_and_attribute_error():
    with pytest.raises(KeyError):
        STATUSES.UNKNOWN  # noqa: B018
    assert getattr(STATUSES, "UNKNOWN", None) is None


def test_error_datetime_is_naive_utc_as_stored():
    job = Job.add_job("photo:1", "resize")
    error = Error.add_error("resize", job, ValueError("x"), when=datetime(2012, 9, 29, 22, 58, 56))
    assert error.datetime == datetime(2012, 9, 29, 22, 58, 56)


def test_get_job_of_a_model_missing_from_its_module_is_an_attribute_error(make_worker):
    with pytest.raises(AttributeError):
        make_worker().get_job("limpyd_jobs.models.Jobbbb:1")


def test_job_skipped_sees_the_status_the_take_found():
    seen = []

    class Watching(Worker):
        def job_skipped(self, job, queue):
            seen.append(job._cached_status)
            super().job_skipped(job, queue)

    job = Job.add_job("photo:1", "resize")
    job.status.hset(STATUSES.CANCELED)
    Watching("resize", max_loops=1, timeout=0.05, terminate_gracefuly=False).run()
    assert seen == [STATUSES.CANCELED]


def test_print_options_prints_and_runs_nothing(redis_server, capsys):
    from limpyd_jobs.workers import WorkerConfig

    Job.add_job("photo:1", "resize")
    config = WorkerConfig(["prog", "--queues=resize", "--print-options", "--no-title",
                           f"--database=127.0.0.1:{redis_server.port}:0"])
    assert config.execute() == 0
    assert "queues: ['resize']" in capsys.readouterr().out
    assert config.worker.status is None and Queue.get_queue("resize").waiting.llen() == 1


def test_set_now_registers_stop_as_redbike_does(clock):
    from limpyd_jobs.recurring.scheduler import set_schedule, tell

    assert set_schedule("report:daily", "NOW") == "ENQ"
    assert tell("report:daily")["schedule"] == "STOP"
    assert Queue.get_queue("daily").waiting.llen() == 1  # it runs once


# --- the first hour of a new user


def test_burst_is_not_stopped_by_the_default_max_loops(make_worker):
    assert make_worker(burst=True).max_loops is None
    assert make_worker(burst=True, max_loops=5).max_loops == 5


def test_a_callback_that_cannot_take_job_and_queue_is_refused_at_start(make_worker):
    from limpyd_jobs import ConfigurationException

    with pytest.raises(ConfigurationException, match=r"cannot be called with \(job, queue\)"):
        make_worker(callback=lambda: None)


def test_a_mistyped_option_is_one_line_with_the_closest_one(capsys):
    from limpyd_jobs.cli.worker import main

    assert main(["--queues=q", "--max-loop=3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean --max-loops?" in err


def test_a_refused_connection_is_said_without_retrying():
    from limpyd_jobs.cli.common import CannotConnect, check_connection
    from limpyd_jobs.databases import use_database
    from limpyd_jobs.models import BaseJobsModel

    class Elsewhere(BaseJobsModel):
        namespace = "elsewhere"
        database = type(BaseJobsModel.database)(host="127.0.0.1", port=1, db=0)

    use_database("127.0.0.1:1:0", [Elsewhere])
    with pytest.raises(CannotConnect):
        check_connection([Elsewhere])
