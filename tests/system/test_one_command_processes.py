"""``limpyd-jobs`` as a process: a reader that goes away (``| head``), shell completion."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from limpyd_jobs import Job

COMMAND = [sys.executable, "-m", "limpyd_jobs.cli.main"]


@pytest.mark.slow
def test_info_watch_piped_into_head_ends_without_a_traceback(redis_server):
    Job.add_job(identifier="photo:1", queue_name="images")
    process = subprocess.Popen([*COMMAND, "info", "--watch", "0.01"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().startswith("Every 0.01s: limpyd-jobs info")
    process.stdout.close()  # as `head -1` does once it has its line
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, "")


@pytest.mark.slow
@pytest.mark.parametrize(("line", "expected"), [
    ("limpyd-jobs wor", {"worker", "workers"}),
    ("limpyd-jobs schedule set --on", {"--on-error"}),
    ("limpyd-jobs jobs images --st", {"--state"}),
])
def test_completion_offers_commands_and_their_options(tmp_path, line, expected):
    pytest.importorskip("argcomplete")
    found = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(found), "_ARGCOMPLETE_IFS": "\n"}
    done = subprocess.run([*COMMAND], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {word.strip() for word in found.read_text().split("\n") if word.strip()} == expected
