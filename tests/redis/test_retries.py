"""Retries of failed jobs: how many, when (a delay growing by a backoff factor, with jitter, up to
a maximum), at which priority, set per worker and overridden per Job class; exceptions never
retried."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sample_jobs import PatientJob

from limpyd_jobs import STATUSES, ConfigurationException, Job
from limpyd_jobs.utils import str_to_datetime
from limpyd_jobs.workers.retries import LONGEST_DELAY, RetryPolicy
from limpyd_jobs.workers.settings import SETTINGS, clean

QUIET = dict(timeout=3600, fetch_priorities_delay=3600, fetch_delayed_delay=3600, recovery_delay=3600,
             purge_delay=0)


class Fatal(Exception):
    pass


def run_failing(make_clocked_worker, clock, job, loops, error=ValueError, **options):
    """Run a worker whose callback always raises ``error`` for ``loops`` jobs; the clock times of
    each start."""
    starts = []

    def fail(job, queue):
        starts.append(clock.now())
        raise error("failed")

    make_clocked_worker("q", callback=fail, max_loops=loops, **{**QUIET, **options}).run()
    return starts


def gaps(starts):
    return [(later - earlier).total_seconds() for earlier, later in zip(starts, starts[1:], strict=False)]


def test_retries_wait_longer_each_time_with_a_backoff_up_to_the_maximum(make_clocked_worker, clock):
    job = Job.add_job(identifier="job", queue_name="q")
    starts = run_failing(make_clocked_worker, clock, job, 6, requeue_times=5, requeue_delay_delta=10,
                         requeue_backoff=2, requeue_max_delay=50)
    assert gaps(starts) == [10, 20, 40, 50, 50]
    assert job.status.hget() == STATUSES.ERROR


def test_without_backoff_each_retry_waits_requeue_delay_delta_at_a_lower_priority(make_clocked_worker, clock):
    job = Job.add_job(identifier="job", queue_name="q", priority=5)
    starts = run_failing(make_clocked_worker, clock, job, 3, requeue_times=2, requeue_delay_delta=30)
    assert gaps(starts) == [30, 30]
    assert job.priority.hget() == "3"  # the seed's requeue_priority_delta: -1 at each retry


def test_jitter_varies_each_delay_within_its_fraction():
    policy = RetryPolicy(requeue_times=10, requeue_delay_delta=100, requeue_priority_delta=0,
                         requeue_backoff=1, requeue_jitter=0.2, requeue_max_delay=None, never_retry=())
    delays = [policy.delay(1, random.Random(seed)) for seed in range(50)]
    assert all(80 <= delay <= 120 for delay in delays)
    assert len(set(delays)) > 40  # varied, so retries of many jobs failing at once do not come back at once


def test_a_huge_backoff_is_capped_instead_of_overflowing():
    policy = RetryPolicy(requeue_times=10_000, requeue_delay_delta=1, requeue_priority_delta=0,
                         requeue_backoff=10, requeue_jitter=0.5, requeue_max_delay=None, never_retry=())
    assert policy.delay(5000) == LONGEST_DELAY


def test_exceptions_never_retried_end_the_job_at_once(make_clocked_worker, clock):
    job = Job.add_job(identifier="job", queue_name="q")
    worker_options = dict(requeue_times=5, requeue_delay_delta=1, never_retry=f"{__name__}.Fatal")
    starts = run_failing(make_clocked_worker, clock, job, 0, error=Fatal, burst=True, **worker_options)
    assert len(starts) == 1 and job.status.hget() == STATUSES.ERROR
    assert job.delayed_until.hget() is None
    other = Job.add_job(identifier="other", queue_name="q")
    assert len(run_failing(make_clocked_worker, clock, other, 3, **worker_options)) == 3  # others are retried


def test_a_job_class_overrides_the_workers_retry_settings(make_clocked_worker, clock):
    job = PatientJob.add_job(identifier="patient", queue_name="q")
    starts = run_failing(make_clocked_worker, clock, job, 4, requeue_times=0, requeue_delay_delta=1)
    assert gaps(starts) == [10, 30, 90]  # its own: 3 retries, 10s, backoff 3
    fatal = PatientJob.add_job(identifier="fatal", queue_name="q")
    # and its never_retry
    assert len(run_failing(make_clocked_worker, clock, fatal, 0, error=KeyError, burst=True)) == 1


def test_a_worker_option_given_as_none_on_the_job_class_keeps_the_workers(make_clocked_worker, clock):
    assert Job.requeue_backoff is None
    job = Job.add_job(identifier="job", queue_name="q")
    assert gaps(run_failing(make_clocked_worker, clock, job, 2, requeue_times=1, requeue_delay_delta=7,
                            requeue_backoff=5)) == [7]


@pytest.mark.parametrize(("name", "value"), [
    ("requeue_backoff", "0.5"), ("requeue_jitter", "1.5"), ("requeue_max_delay", "-1"),
    ("never_retry", "no.such.Error"), ("never_retry", "limpyd_jobs.Job"),
])
def test_invalid_retry_settings_are_refused_with_the_option_named(name, value):
    setting = next(setting for setting in SETTINGS if setting.name == name)
    with pytest.raises(ConfigurationException, match=f"{name}|{name.replace('_', '-')}"):  # or its flag
        clean(setting, value)


def test_retried_jobs_start_where_their_delays_say(make_clocked_worker, clock):
    job = Job.add_job(identifier="job", queue_name="q")
    starts = run_failing(make_clocked_worker, clock, job, 3, requeue_times=2, requeue_delay_delta=4,
                         requeue_backoff=2)
    assert starts[-1] == starts[0] + timedelta(seconds=4 + 8)
    assert str_to_datetime(job.start.hget()) == starts[-1]
