"""``limpyd-jobs``, the one command: every command under it, the options every command takes
(before or after its name, ``LIMPYD_JOBS_*``, ``--config``), the aliases, shell completion."""

from __future__ import annotations

import sys

import pytest
import tomllib
from helpers import ROOT

from limpyd_jobs import Job
from limpyd_jobs.cli.common import RET_CONNECT, RET_OK, RET_USAGE, autocomplete
from limpyd_jobs.cli.main import RUNNERS, full_parser, main, split
from limpyd_jobs.testing.server import free_port

RUNNER_ARGS = {"worker": ["--queues=q"], "schedule": ["tell", "a:q"], "sweeper": ["--once"],
               "dashboard": []}
EVERY = ["info", *RUNNERS]


def args_of(command: str) -> list[str]:
    return [command, *RUNNER_ARGS.get(command, [])]


@pytest.fixture
def nowhere():
    """A --database value where no Redis answers: the error says whose it is."""
    port = free_port()
    return f"127.0.0.1:{port}:0", f"127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def no_shared_variables(monkeypatch):
    for name in ("LIMPYD_JOBS_DATABASE", "LIMPYD_JOBS_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_the_one_command_and_its_aliases_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {
        "limpyd-jobs": "limpyd_jobs.cli.main:run", "limpyd-jobs-worker": "limpyd_jobs.cli.worker:run",
        "limpyd-jobs-sweeper": "limpyd_jobs.cli.sweeper:run",
        "limpyd-jobs-schedule": "limpyd_jobs.cli.schedule:entry_point",
        "limpyd-jobs-dashboard": "limpyd_jobs.dashboard.cli:run"}
    assert project["optional-dependencies"]["completion"] == ["argcomplete>=3"]


def test_help_lists_every_command_and_a_mistyped_one_is_refused(capsys):
    assert main(["--help"]) == RET_OK
    out = capsys.readouterr().out
    for command in ("worker", "schedule", "sweeper", "dashboard", "metrics", "info", "queues", "workers",
                    "jobs", "show", "errors", "requeue", "health"):
        assert f"    {command} " in out
    assert main(["wokrer"]) == RET_USAGE
    assert "invalid choice: 'wokrer'" in capsys.readouterr().err
    assert main([]) == RET_USAGE


def test_split_keeps_the_shared_options_given_before_the_command():
    assert split(["--database", "h:1:0", "--config=f.ini", "worker", "--queues=q"]) == (
        ["--database", "h:1:0", "--config=f.ini"], "worker", ["--queues=q"])
    assert split(["--version"]) == ([], None, ["--version"])


@pytest.mark.parametrize("command", EVERY)
@pytest.mark.parametrize("where", ["before", "after"])
def test_database_is_read_before_or_after_each_command(command, where, nowhere, capsys, database):
    value, address = nowhere
    argv = [f"--database={value}", *args_of(command)] if where == "before" else \
        [*args_of(command), "--database", value]
    assert main(argv) == RET_CONNECT
    err = capsys.readouterr().err
    assert err.startswith(f"limpyd-jobs{'' if command == 'info' else ' ' + command}: error: ")
    assert address in err


@pytest.mark.parametrize("command", EVERY)
def test_each_command_reads_limpyd_jobs_database(command, nowhere, monkeypatch, capsys, database):
    value, address = nowhere
    monkeypatch.setenv("LIMPYD_JOBS_DATABASE", value)
    assert main(args_of(command)) == RET_CONNECT
    assert address in capsys.readouterr().err


@pytest.mark.parametrize("command", ["info", "worker", "sweeper", "dashboard"])
def test_each_command_reads_the_database_of_the_config_file(command, nowhere, tmp_path, capsys, database):
    value, address = nowhere
    config = tmp_path / "jobs.ini"
    config.write_text(f"[limpyd-jobs]\ndatabase = {value}\n")
    assert main([f"--config={config}", *args_of(command)]) == RET_CONNECT
    assert address in capsys.readouterr().err


def test_a_command_given_database_after_its_name_works(redis_server, capsys, database):
    Job.add_job(identifier="photo:1", queue_name="images")
    assert main(["queues", f"--database=127.0.0.1:{redis_server.port}:0"]) == RET_OK
    assert "images" in capsys.readouterr().out
    assert main(["queues", f"--database=127.0.0.1:{redis_server.port}:5"]) == RET_OK  # another db
    assert capsys.readouterr().out == "no queue\n"


def test_completion_is_skipped_without_argcomplete(monkeypatch):
    monkeypatch.setenv("_ARGCOMPLETE", "1")
    monkeypatch.setitem(sys.modules, "argcomplete", None)  # not installed: the import fails
    built = []
    autocomplete(lambda: built.append(1) or full_parser())
    assert built == []


def test_the_full_parser_knows_every_commands_options():
    parser = full_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    assert "--queues" in commands["worker"]._option_string_actions
    schedule = next(action for action in commands["schedule"]._actions if action.dest == "command").choices
    assert "--on-error" in schedule["set"]._option_string_actions


def test_the_sweeper_reads_its_worker_options_from_limpyd_jobs_variables(monkeypatch, capsys, redis_server,
                                                                           database):
    monkeypatch.setenv("LIMPYD_JOBS_HEARTBEAT_TIMEOUT", "soon")
    assert main(["sweeper", "--once", f"--database=127.0.0.1:{redis_server.port}:0"]) == RET_USAGE
    err = capsys.readouterr().err
    assert "--heartbeat-timeout: invalid integer value: 'soon'" in err
    monkeypatch.setenv("LIMPYD_JOBS_HEARTBEAT_TIMEOUT", "20")
    assert main(["sweeper", "--once", f"--database=127.0.0.1:{redis_server.port}:0"]) == RET_OK
