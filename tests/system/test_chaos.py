"""Chaos, in short runs (tests/chaos.py runs them at length): worker processes SIGKILLed at
random and restarted, and a network that resets connections and loses replies. No job is lost
or stuck, no process exits; the jobs run again are counted."""

from __future__ import annotations

import pytest
from chaos import kill, network


@pytest.mark.parametrize(("mode", "prefetch", "concurrency", "count", "work"),
                         [("inprocess", 1, 1, 300, 0.002), ("prefork", 1, 1, 300, 0.002),
                          ("inprocess", 8, 1, 300, 0.002), ("inprocess", 1, 50, 1000, 0.2)])
def test_chaos_of_killed_workers(redis_server, mode, prefetch, concurrency, count, work):
    # with 50 jobs in flight per worker, longer jobs: the kills land while many are in flight
    report = kill(redis_server.port, count=count, kills=12, mode=mode, prefetch=prefetch,
                  concurrency=concurrency, work=work)
    print(f"\n{report}")
    # kills come at steps of the progress: on a loaded machine the last ones may find the jobs done
    assert report.faults["kills"] >= 8
    assert report.lost == [] and report.stuck == [] and report.exited == []


def test_chaos_of_a_flaky_network(redis_server):
    report = network(redis_server.port, seconds=8, count=300, reset=0.01, lose=0.01)
    print(f"\n{report}")
    assert report.faults["resets"] > 0 and report.faults["lost replies"] > 0
    assert report.lost == [] and report.stuck == [] and report.exited == []
    assert report.schedule_runs > 10 and report.schedule_status in ("ENQ", "WRK", "TML")
