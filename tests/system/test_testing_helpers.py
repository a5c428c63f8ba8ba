"""limpyd_jobs.testing for users: run_jobs/burst, eager mode, and the pytest plugin run on the
small application of examples/testing, in a pytest process of its own, as a user's project would."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT

from limpyd_jobs import STATUSES, Job
from limpyd_jobs.testing import JobFailed, burst, eager, eager_enabled, run_jobs

EXAMPLE = ROOT / "examples" / "testing"


class Greeting(Job):
    namespace = "testing-helpers"
    queue_name = "greetings"
    said: list[str] = []

    def run(self, queue):
        name = self.identifier.hget()
        if name == "nobody":
            raise LookupError("nobody to greet")
        Greeting.said.append(name)
        return name


@pytest.fixture(autouse=True)
def forget():
    Greeting.said = []


def test_run_jobs_runs_what_is_queued_in_order_and_says_how_each_ended():
    Greeting.add_job(identifier="ada")
    Greeting.add_job(identifier="nobody")
    Greeting.add_job(identifier="bob", priority=5)  # a queue of higher priority: first
    later = Greeting.add_job(identifier="carl", delayed_for=3600)

    ran = run_jobs("greetings")

    assert [(r.identifier, r.ending, r.attempt) for r in ran] == [
        ("bob", "success", 1), ("ada", "success", 1), ("nobody", "error", 1)]
    assert isinstance(ran[2].error, LookupError) and ran[0].error is None
    assert Greeting.said == ["bob", "ada"]
    assert later.status.hget() == STATUSES.DELAYED  # delayed to later: left for later
    assert run_jobs("greetings") == []


def test_run_jobs_takes_a_callback_and_worker_options():
    Greeting.add_job(identifier="nobody")
    seen = []

    def callback(job, queue):
        seen.append(job.identifier.hget())
        if len(seen) == 1:
            raise OSError("once")

    ran = run_jobs(["greetings"], callback, requeue_times=1, requeue_delay_delta=0)

    assert seen == ["nobody", "nobody"]  # the callback instead of run; retried once, at once
    assert [(r.ending, r.attempt) for r in ran] == [("error", 1), ("success", 2)]


def test_run_jobs_retries_a_failed_job_due_at_once_in_the_same_run():
    Greeting.add_job(identifier="nobody")

    ran = run_jobs("greetings", requeue_times=2, requeue_delay_delta=0)

    assert [(r.ending, r.attempt) for r in ran] == [("error", 1), ("error", 2), ("error", 3)]


def test_raise_errors_raises_the_first_exception_a_job_raised_after_the_run():
    Greeting.add_job(identifier="nobody")
    Greeting.add_job(identifier="ada")

    with pytest.raises(JobFailed, match="'nobody' of queue 'greetings' raised LookupError") as raised:
        run_jobs("greetings", raise_errors=True)

    assert isinstance(raised.value.__cause__, LookupError)
    assert Greeting.said == ["ada"]  # the run went to its end first


def test_burst_runs_every_queue_in_redis_highest_priority_first():
    Greeting.add_job(identifier="ada", queue_name="low")
    Greeting.add_job(identifier="bob", queue_name="high", priority=3)

    assert [(r.queue, r.identifier) for r in burst()] == [("high", "bob"), ("low", "ada")]
    assert burst() == []


def test_eager_mode_is_off_by_default_set_by_the_environment_and_by_the_block(monkeypatch):
    monkeypatch.delenv("LIMPYD_JOBS_EAGER", raising=False)
    assert not eager_enabled()
    monkeypatch.setenv("LIMPYD_JOBS_EAGER", "1")
    assert eager_enabled()
    with eager(False):
        assert not eager_enabled()  # the block wins over the environment
        with eager():
            assert eager_enabled()
        assert not eager_enabled()
    assert eager_enabled()


def run_pytest(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)],
                          cwd=directory, capture_output=True, text=True, timeout=120)


def test_the_example_application_tests_pass_with_the_plugin(tmp_path):
    for name in ("signup.py", "test_signup.py"):
        shutil.copy(EXAMPLE / name, tmp_path / name)

    done = run_pytest(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_plugin_fixtures_isolate_each_test_and_restore_the_settings(tmp_path):
    (tmp_path / "test_fixtures.py").write_text(textwrap.dedent("""
        from limpyd_jobs import Job
        from limpyd_jobs.models import BaseJobsModel
        from limpyd_jobs.testing import eager_enabled

        def test_first(limpyd_jobs_database, limpyd_jobs_redis):
            assert limpyd_jobs_database.connection_settings["port"] == limpyd_jobs_redis.port != 6379
            Job.add_job(identifier="left behind", queue_name="q")

        def test_second_starts_empty(limpyd_jobs_database):
            assert Job.collection(identifier="left behind") == set()

        def test_eager(limpyd_jobs_eager):
            assert eager_enabled()

        def test_settings_restored_and_eager_off():
            assert BaseJobsModel.database.connection_settings.get("port") != 1
            assert not eager_enabled()
        """))

    done = run_pytest(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
