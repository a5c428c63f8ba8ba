"""The demo runs end to end against a Redis it is given (here, the tests' private one)."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT

EXAMPLE = ROOT / "example.py"


def test_example_runs_jobs_through_a_worker_process(redis_server):
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/3"}
    result = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Using the Redis of REDIS_URL, database 3" in out
    for identifier in ("photo:1", "photo:2", "photo:3", "photo:4"):
        assert f"{identifier:<14} SUCCESS" in out
    assert "photo:broken   ERROR    priority=0  tries=2" in out
    assert out.count("photo:broken: OSError: cannot read photo:broken") == 2
    assert "thumbnails priority 9: waiting=0 success=1" in out
    assert "Recurring digest:thumbnails: 2 run(s), status STP:" in out
    redis_server.client(db=3).flushdb()
