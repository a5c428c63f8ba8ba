"""The limpyd-jobs-worker command: options, errors, and real runs (in-process and subprocess)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sample_config
from helpers import TESTS_DIR

from limpyd_jobs import STATUSES, Job, Queue, __version__
from limpyd_jobs.cli.common import RET_CONNECT, RET_IMPORT, RET_USAGE
from limpyd_jobs.cli.config import OPTIONS, WorkerConfig, make_parser
from limpyd_jobs.cli.worker import main
from limpyd_jobs.testing.server import free_port


@pytest.fixture
def base_args(redis_server):
    return [f"--database=127.0.0.1:{redis_server.port}:0", "--no-title", "--timeout=0.05",
            "--no-terminate-gracefuly"]


def run_main(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_option(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    for flag in ["--pythonpath", "--worker-config", "--print-options", "--dry-run", "--queues",
                 "--queue-model", "--error-model", "--worker-class", "--callback", "--logger-name",
                 "--logger-level", "--save-errors", "--no-save-errors", "--save-tracebacks",
                 "--no-save-tracebacks", "--max-loops", "--max-duration", "--terminate-gracefuly",
                 "--no-terminate-gracefuly", "--timeout", "--fetch-priorities-delay",
                 "--fetch-delayed-delay", "--requeue-times", "--requeue-priority-delta",
                 "--requeue-delay-delta", "--database", "--no-title", "--version"]:
        assert flag in out, flag
    assert "--title " not in out


def test_every_option_is_declared_once():
    names = [option.name for option in OPTIONS]
    assert len(names) == len(set(names))
    make_parser()  # argparse refuses a flag declared twice


def test_version(capsys):
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and __version__ in out


@pytest.mark.parametrize(
    "args, expected",
    [
        ([], "--queues is required"),
        (["--queues=q", "--max-loops=abc"], "option --max-loops: invalid integer value"),
        (["--queues=q", "--timeout=-3"], "The timeout argument (-3) must be a positive integer"),
        (["--queues=q", "--logger-level=LOUD"], "Invalid logger-level LOUD"),
        (["--queues=q", "--unknown-thing"], "unrecognized arguments: --unknown-thing"),
        (["--queues=q", "--worker-class=sample_jobs.noop"], "--worker-class"),
        (["--queues=q", "--database=host:port:db"], "--database"),
        (["--queues=q", "--worker-config=sample_config.NotAConfig"], "not a WorkerConfig subclass"),
    ],
)
def test_misuse_prints_usage_and_exits_non_zero(args, expected, capsys):
    code, _, err = run_main(args, capsys)
    assert code == RET_USAGE
    assert expected in err


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--queues=q", "--callback=no_such_module.callback"],
         "argument --callback: Unable to import \"callback\" from 'no_such_module.callback': "
         "ModuleNotFoundError: No module named 'no_such_module'"),
        (["--queues=q", "--callback=sample_jobs.nope"],
         "argument --callback: Unable to import \"callback\""
         " from 'sample_jobs.nope': module 'sample_jobs' has no attribute 'nope'"),
        (["--queues=q", "--worker-config=no.such.Config"],
         "cannot import worker config 'no.such.Config': ModuleNotFoundError: No module named 'no'"),
    ],
)
def test_what_cannot_be_imported_exits_with_ret_import(args, expected, capsys):
    code, _, err = run_main(args, capsys)
    assert code == RET_IMPORT
    assert err == f"limpyd-jobs-worker: error: {expected}\n"


@pytest.mark.slow
def test_unreachable_database_names_the_address(capsys):
    port = free_port()
    code, _, err = run_main(["--queues=q", f"--database=127.0.0.1:{port}:0", "--no-title"], capsys)
    assert code == RET_CONNECT
    assert f"127.0.0.1:{port} db 0" in err


def test_run_jobs_through_the_command(base_args, capsys):
    first = Job.add_job(identifier="job:1", queue_name="q")
    second = Job.add_job(identifier="job:2", queue_name="q")
    code, _, _ = run_main(["--queues=q", "--callback=sample_jobs.noop", "--max-loops=2", *base_args], capsys)
    assert code == 0
    assert first.status.hget() == second.status.hget() == STATUSES.SUCCESS


def test_database_as_url(redis_server, capsys):
    job = Job.add_job(identifier="job:1", queue_name="q")
    code, _, _ = run_main(["--queues=q", "--callback=sample_jobs.noop", "--max-loops=1", "--no-title",
                           f"--database=redis://127.0.0.1:{redis_server.port}/0", "--timeout=0.05"], capsys)
    assert code == 0 and job.status.hget() == STATUSES.SUCCESS


def test_print_options_and_dry_run(base_args):
    job = Job.add_job(identifier="job:1", queue_name="q")
    out = io.StringIO()
    config = WorkerConfig(["--queues=q,r", "--callback=sample_jobs.noop", "--print-options", "--dry-run",
                           "--requeue-times=3", "--max-duration=60", *base_args], stdout=out)
    assert config.execute() == 0
    printed = dict(line.split(": ", 1) for line in out.getvalue().splitlines())
    assert printed["queues"] == "['q', 'r']"
    assert printed["callback"] == "sample_jobs.noop"
    assert printed["requeue_times"] == "3"
    assert printed["max_duration"] == "0:01:00"  # a timedelta, as the seed says
    assert printed["queue_model"] == "limpyd_jobs.models.Queue"
    assert printed["dry_run"] == "True"
    assert printed["update_title"] == "False"
    assert job.status.hget() == STATUSES.WAITING  # nothing ran


def test_options_are_passed_to_the_worker(base_args):
    config = WorkerConfig(["--queues=q", "--max-loops=7", "--no-save-errors", "--requeue-delay-delta=15",
                           "--requeue-priority-delta=-2", "--logger-level=ERROR", "--fetch-delayed-delay=3",
                           *base_args])
    worker = config.prepare_worker()
    assert (worker.max_loops, worker.save_errors, worker.requeue_delay_delta) == (7, False, 15)
    assert (worker.requeue_priority_delta, worker.logger_level, worker.fetch_delayed_delay) == (-2, 40, 3)
    assert worker.terminate_gracefuly is False and worker.update_title is False


def test_worker_config_and_worker_class_subclasses(base_args, capsys):
    sample_config.SETUP_CALLS.clear()
    before = sample_config.CountingWorker.instances
    code, _, _ = run_main(["--worker-config=sample_config.SetupWorkerConfig", "--queues=q", "--dry-run",
                           "--worker-class=sample_config.CountingWorker", *base_args], capsys)
    assert code == 0
    assert sample_config.SETUP_CALLS == ["setup"]
    assert sample_config.CountingWorker.instances == before + 1


def test_pythonpath_makes_a_callback_importable(tmp_path, base_args, capsys):
    (tmp_path / "my_tasks_module.py").write_text(textwrap.dedent("""
        def callback(job, queue):
            job.get_connection().set("called-by", job.identifier.hget())
    """))
    Job.add_job(identifier="job:1", queue_name="q")
    code, _, _ = run_main([f"--pythonpath={tmp_path}", "--queues=q", "--callback=my_tasks_module.callback",
                           "--max-loops=1", *base_args], capsys)
    assert code == 0
    assert Job.get_connection().get("called-by") == "job:1"


# --- real processes


def worker_command():
    script = Path(sys.executable).parent / "limpyd-jobs-worker"
    return [str(script)] if script.exists() else [sys.executable, "-m", "limpyd_jobs.cli.worker"]


@pytest.mark.slow
def test_subprocess_runs_jobs_and_logs_in_the_documented_format(redis_server):
    job = Job.add_job(identifier="job:1", queue_name="q")
    result = subprocess.run(
        [*worker_command(), "--queues=q", "--callback=sample_jobs.noop", "--max-loops=1",
         f"--pythonpath={TESTS_DIR}", f"--database=127.0.0.1:{redis_server.port}:0", "--timeout=1"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert job.status.hget() == STATUSES.SUCCESS
    line = next(line for line in result.stderr.splitlines() if "starting" in line)
    assert " (limpyd-jobs) INFO     [" in line and line.startswith("[")
    assert "[q|job:1] starting" in line


@pytest.mark.slow
def test_subprocess_stops_on_sigterm_with_exit_code_0(redis_server):
    Queue.get_queue("q")  # the run starts once a queue exists
    process = subprocess.Popen(
        [*worker_command(), "--queues=q", "--callback=sample_jobs.noop", f"--pythonpath={TESTS_DIR}",
         f"--database=127.0.0.1:{redis_server.port}:0", "--timeout=30"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        for _ in range(1000):  # bounded: wait for the worker to announce its run
            line = process.stderr.readline()
            if " started on Redis " in line or not line:
                break
        assert " started on Redis " in line
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        process.stderr.close()


def test_max_loops_0_is_no_limit(base_args):
    worker = WorkerConfig(["--queues=q", "--max-loops=0", "--max-duration=0", *base_args]).prepare_worker()
    assert worker.max_loops == 0 and not worker.must_stop()


def test_max_loops_none_is_no_limit_not_the_default(base_args):
    worker = WorkerConfig(["--queues=q", "--max-loops=None", *base_args]).prepare_worker()
    assert worker.max_loops is None and not worker.must_stop()
    assert WorkerConfig(["--queues=q", *base_args]).prepare_worker().max_loops == 1000


def test_queue_cycle_from_the_command_line(base_args):
    worker = WorkerConfig(["--queues=a,b", "--queue-cycle=a:a:b", *base_args]).prepare_worker()
    assert worker.queue_cycle == ["a", "a", "b"]
