"""Random interleavings of set, unset, dispatch, runs and their ends: after each step, a schedule
is in exactly one place (the timeline, its queue, or running), or in none when it is stopped,
failed, bad or unset; it is never lost, never doubled. In one process step by step (including
steps taken while a run runs or while its end is written), then with several processes racing."""

from __future__ import annotations

import multiprocessing
import random
import time

import pytest

from limpyd_jobs import STATUSES
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.recurring.scheduler import (
    RecurringJob,
    RecurringSchedule,
    StopWork,
    UnsetJob,
    control,
    dispatch,
    set_schedule,
    timeline,
    unset_schedule,
)
from limpyd_jobs.workers import Worker
from limpyd_jobs.workers.observers import WorkerObserver

JOB_ID = "report:q"
SCHEDULES = ["NOW", "CONTINUE", "AT:+30", "DTSTART:20260101T000000Z\nRRULE:FREQ=MINUTELY", "STOP",
             "SOMETIMES"]
ENDS = [None, 120, StopWork, UnsetJob, ValueError]  # what a run returns or raises


def check(step: str, ending: str | None = None) -> None:
    """The schedule is in one place at most, in exactly one while it has a run to come. ``ending``:
    the schedule version of a run that ended and whose hooks are not called yet: that run is
    still where the schedule stands if it is of the current version, or if a set deferred the next
    run until its end (its hooks place the next run)."""
    runs = [run.status.hget() for run in RecurringJob.collection(identifier=JOB_ID, queued=1).instances()]
    exists = RecurringSchedule.exists(pk=JOB_ID)
    version, deferred = RecurringSchedule(JOB_ID).hmget("version", "deferred") if exists else (None, None)
    in_end = ending is not None and (ending == version or bool(deferred))
    running = runs.count(STATUSES.RUNNING) + int(in_end)
    in_timeline = timeline().due_at(JOB_ID) is not None
    places = int(in_timeline) + len(runs) + int(in_end)
    where = f"after {step}: timeline={in_timeline}, queued runs={runs}"
    assert places <= 1, where
    if not exists:
        assert places == running, where  # unset: at most the run that was running goes on
        return
    status = RecurringSchedule(JOB_ID).status.hget()
    if deferred:
        assert running == 1 and places == 1, f"{where}, deferred={deferred}"
    if status.split(":")[0] in ("TML", "ENQ", "WRK"):
        assert places == 1, f"{where}, status={status}"


class Chaos:
    """Random steps, some of them taken while a run runs or while its end is being written."""

    def __init__(self, seed: int, clock) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        #: Checks that failed inside a run (the worker would take them for the job's own errors).
        self.failures: list[AssertionError] = []

    def act_inside(self, where: str, ending: str | None = None) -> None:
        try:
            self.act(where, ending)
        except AssertionError as exc:
            self.failures.append(exc)

    def act(self, where: str, ending: str | None = None) -> None:
        kind = self.rng.choice(["set", "set", "unset", "dispatch", "advance"])
        if kind == "set":
            schedule = self.rng.choice(SCHEDULES)
            if schedule.startswith("AT:+"):
                schedule = f"AT:{self.clock.time() + int(schedule[4:])}"
            set_schedule(JOB_ID, schedule)
        elif kind == "unset":
            unset_schedule(JOB_ID)
        elif kind == "dispatch":
            dispatch()
        else:
            self.clock.advance(self.rng.choice([1, 30, 61, 125]))
        check(f"{kind} {where}", ending)

    def run(self) -> None:
        chaos = self

        def callback(job, queue):
            for _ in range(chaos.rng.randrange(3)):
                chaos.act_inside("while the run runs")
            end = chaos.rng.choice(ENDS)
            if isinstance(end, type):
                raise end("the run ends so")
            return end

        class WhileTheEndIsWritten(WorkerObserver):
            def after_record(self, worker, attempt, ending):
                if chaos.rng.random() < 0.5:
                    chaos.act_inside("while the end is written", attempt.job.schedule_version.hget())

        Worker("q", callback=callback, max_loops=1, burst=True, timeout=0.05, terminate_gracefuly=False,
               observers=[WhileTheEndIsWritten()], logger_level="ERROR").run()
        if self.failures:
            raise self.failures[0]
        check("a run")


@pytest.mark.parametrize("seed", range(15))
def test_random_interleavings_never_lose_nor_double_a_schedule(seed, clock):
    chaos = Chaos(seed, clock)
    for _ in range(60):
        if chaos.rng.random() < 0.4:
            chaos.run()
        else:
            chaos.act("between runs")


def _setter(port: int, seed: int, stop) -> None:
    BaseJobsModel.database.reset(host="127.0.0.1", port=port, db=0)
    rng = random.Random(seed)
    while not stop.is_set():
        if rng.random() < 0.1:
            unset_schedule(JOB_ID)
        else:
            schedule = rng.choice(["NOW", "CONTINUE", "AT:+0.05", "STOP"])
            if schedule.startswith("AT:+"):
                schedule = f"AT:{time.time() + float(schedule[4:])}"
            set_schedule(JOB_ID, schedule)
        time.sleep(rng.uniform(0, 0.01))  # the cadence of the chaos, not a wait for an event


def _dispatcher(port: int, stop) -> None:
    BaseJobsModel.database.reset(host="127.0.0.1", port=port, db=0)
    while not stop.is_set():
        dispatch()
        time.sleep(0.005)


def _worker(port: int) -> None:
    BaseJobsModel.database.reset(host="127.0.0.1", port=port, db=0)
    Worker("q", callback=lambda job, queue: time.sleep(0.002), max_loops=0, timeout=0.05,
           terminate_gracefuly=False, logger_level="ERROR").run()  # until HALT


def test_several_processes_setting_dispatching_and_running_leave_the_schedule_in_one_place(redis_server):
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    processes = [context.Process(target=_setter, args=(redis_server.port, seed, stop)) for seed in (1, 2)]
    processes += [context.Process(target=_dispatcher, args=(redis_server.port, stop))]
    processes += [context.Process(target=_worker, args=(redis_server.port,)) for _ in range(2)]
    for process in processes:
        process.start()
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and all(process.is_alive() for process in processes):
            time.sleep(0.1)  # let them race for three seconds
        assert all(process.is_alive() for process in processes), "a process died"
        stop.set()
        for process in processes[:3]:
            process.join(20)
        control("HALT")  # the workers stop after their current run, whose end places the next one
        for process in processes[3:]:
            process.join(20)
        assert not any(process.is_alive() for process in processes)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        control("CLEAR")
    assert len(RecurringJob.collection(identifier=JOB_ID)) > 10  # it did run, many times
    check("three seconds of several processes")
