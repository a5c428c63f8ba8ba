"""Recurring jobs: set/unset, the timeline, dispatch, and rescheduling by ordinary workers."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from limpyd_jobs import STATUSES, Queue
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.recurring.scheduler import (
    DEFAULT_TIMEOUT,
    RecurringJob,
    StopWork,
    UnsetJob,
    dispatch,
    set_schedule,
    tell,
    timeline,
    unset_schedule,
)
from limpyd_jobs.workers import Worker
from limpyd_jobs.workers.observers import WorkerObserver

pytestmark = pytest.mark.usefixtures("clock")  # every time here is the test's clock


def run_worker(queue, callback, loops=1):
    Worker(queue, callback=callback, max_loops=loops, timeout=0.05, terminate_gracefuly=False).run()


def runs_of(job_id):
    """The runs (jobs) of a schedule, oldest first."""
    return sorted(RecurringJob.collection(identifier=job_id).instances(), key=lambda job: int(job.pk.get()))


def status_of(job_id):
    return (tell(job_id)["status"] or "").split(":")[0]


def test_now_is_queued_at_once_in_the_queue_named_after_the_job_id():
    assert set_schedule("report:daily", "NOW") == "ENQ"
    [job] = runs_of("report:daily")
    assert job.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("daily").waiting.lmembers() == [job.ident]
    assert status_of("report:daily") == "ENQ"
    run_worker("daily", lambda job, queue: None)
    assert job.status.hget() == STATUSES.SUCCESS
    assert status_of("report:daily") == "STP"  # NOW runs once
    assert dispatch() == []


def test_rrule_goes_to_the_timeline_then_dispatch_queues_it_once(clock):
    later = clock.time() + 3600
    assert set_schedule("sync:A", f"AT:{later}") == "TML"
    assert tell("sync:A")["next_run"] == pytest.approx(later)
    assert dispatch(now=later - 10) == []
    assert dispatch(now=later + 1) == ["sync:A"]
    assert dispatch(now=later + 2) == []
    assert len(runs_of("sync:A")) == 1
    assert status_of("sync:A") == "ENQ"


def test_continue_runs_again_and_honours_a_returned_backoff(clock):
    set_schedule("poll:B", "CONTINUE")
    run_worker("B", lambda job, queue: None)
    first, second = runs_of("poll:B")
    assert first.status.hget() == STATUSES.SUCCESS
    assert second.status.hget() == STATUSES.WAITING  # the next run, queued at once
    run_worker("B", lambda job, queue: 600)  # the run asks for 10 minutes of rest
    assert tell("poll:B")["next_run"] == clock.time() + 600
    assert status_of("poll:B") == "TML"


def test_rrule_after_a_run_goes_back_to_the_timeline(clock):
    set_schedule("report:C", "DTSTART:20200101T000000Z\nRRULE:FREQ=HOURLY", after=0)
    assert status_of("report:C") == "ENQ"  # its first occurrence (2020) is long due
    clock.advance(1800)  # the run ends at 00:30
    run_worker("C", lambda job, queue: None)
    assert tell("report:C")["next_run"] == clock.time() + 1800  # 01:00
    assert status_of("report:C") == "TML"


def test_stop_work_unset_job_and_errors():
    for job_id in ("a:q", "b:q", "c:q"):
        set_schedule(job_id, "CONTINUE")

    def callback(job, queue):
        raise {"a:q": StopWork, "b:q": UnsetJob, "c:q": ValueError}[job.identifier.hget()]("stop")

    run_worker("q", callback, loops=3)
    assert tell("a:q")["schedule"] == "STOP" and status_of("a:q") == "STP"
    assert tell("b:q")["status"] is None
    assert status_of("c:q") == "DIE" and tell("c:q")["next_run"] is None


def test_bad_schedule_and_no_occurrence_left():
    assert set_schedule("x:q", "EVERY TUESDAY") == "BAD"
    assert status_of("x:q") == "BAD" and runs_of("x:q") == []
    assert set_schedule("y:q", "DTSTART:20200101T000000Z\nRRULE:FREQ=DAILY;COUNT=2") == "STP"
    assert runs_of("y:q") == []


def test_unset_removes_from_timeline_and_queue_and_none_unsets(clock):
    set_schedule("a:q", f"AT:{clock.time() + 100}")
    set_schedule("b:q", "NOW")
    unset_schedule("a:q")
    set_schedule("b:q", None)
    assert tell("a:q")["status"] is None and tell("b:q")["status"] is None
    assert Queue.count_waiting_jobs("q") == 0
    assert [job.status.hget() for job in runs_of("b:q")] == [STATUSES.CANCELED]


def test_unset_while_running_lets_the_run_finish_without_rescheduling():
    set_schedule("a:q", "CONTINUE")

    def callback(job, queue):
        assert tell("a:q")["working"] is True
        unset_schedule("a:q")

    run_worker("q", callback)
    [job] = runs_of("a:q")
    assert job.status.hget() == STATUSES.SUCCESS
    assert Queue.count_waiting_jobs("q") == 0 and tell("a:q")["next_run"] is None


def _dispatch_many(port, barrier, results):
    BaseJobsModel.database.reset(host="127.0.0.1", port=port, db=0)
    barrier.wait(timeout=20)
    got = []
    for _ in range(20):
        got += dispatch(now=BaseJobsModel.clock.time() + 7200, limit=5)
    results.put(got)


def test_several_dispatchers_never_enqueue_an_occurrence_twice(redis_server, clock):
    for number in range(60):
        set_schedule(f"job{number}:q", f"AT:{clock.time() + 3600}")
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_dispatch_many, args=(redis_server.port, barrier, results))
                 for _ in range(3)]
    for process in processes:
        process.start()
    dispatched = [job_id for _ in processes for job_id in results.get(timeout=60)]
    for process in processes:
        process.join(30)
    dispatched += dispatch(now=clock.time() + 7200)
    assert sorted(dispatched) == sorted(f"job{number}:q" for number in range(60))
    assert Queue.count_waiting_jobs("q") == 60


# --- control and the command


def test_halt_stops_workers_and_dispatchers_then_clear_lifts_it():
    from limpyd_jobs.recurring.scheduler import control, run_dispatcher

    set_schedule("a:q", "CONTINUE")
    control("HALT")
    assert control() == "HALT"
    worker = Worker("q", callback=lambda job, queue: None, max_loops=100, timeout=30,
                    terminate_gracefuly=False)
    worker.run()  # stops at its first look at the control key, before taking a job
    assert worker.num_loops == 0 and worker.end_forced
    assert Queue.count_waiting_jobs("q") == 1
    assert run_dispatcher(interval=3600) == 0  # returns after one tick instead of waiting an hour
    control("CLEAR")
    assert control() is None
    with pytest.raises(ValueError):
        control("PAUSE")


def test_set_while_a_run_is_in_progress_is_the_one_that_counts(clock):
    set_schedule("a:q", "CONTINUE")

    def callback(job, queue):
        set_schedule("a:q", f"AT:{clock.time() + 3600}")

    run_worker("q", callback)
    assert status_of("a:q") == "TML" and tell("a:q")["next_run"] == clock.time() + 3600
    assert Queue.count_waiting_jobs("q") == 0  # CONTINUE did not requeue it


def _sleep(job, queue):
    time.sleep(3600)  # killed at its timeout (a test whose run is not stopped hangs)


def test_a_run_past_its_timeout_is_not_rescheduled_in_a_forked_child():
    set_schedule("slow:q", "CONTINUE", timeout=0.2)
    Worker("q", callback=_sleep, max_loops=1, timeout=0.05, terminate_gracefuly=False,
           execution_mode="fork", timeout_grace=0.2).run()
    assert status_of("slow:q") == "DIE"
    assert tell("slow:q")["next_run"] is None and Queue.count_waiting_jobs("q") == 0


def test_missed_occurrences_run_once_after_downtime(clock):
    set_schedule("report:q", "DTSTART:20200101T000000Z\nRRULE:FREQ=MINUTELY", after=clock.time() - 3600)
    # an hour of occurrences were missed: the job is queued once, then goes on from now
    assert Queue.count_waiting_jobs("q") == 1 and dispatch() == []
    clock.advance(20)
    run_worker("q", lambda job, queue: None)
    assert tell("report:q")["next_run"] == clock.time() + 40  # the next whole minute


def test_set_now_while_a_run_is_running_runs_again_after_it(clock):
    set_schedule("x:q", "DTSTART:20200101T000000Z\nRRULE:FREQ=DAILY", after=clock.time() - 60)
    told = []

    def set_now_meanwhile(job, queue):
        assert set_schedule("x:q", "NOW") == "TML"  # waits for the end of this run
        told.append(tell("x:q"))

    run_worker("q", set_now_meanwhile)
    assert told[0]["next_run"] == clock.time() and told[0]["working"] is True
    assert Queue.count_waiting_jobs("q") == 1 and status_of("x:q") == "ENQ"  # placed at the run's end
    run_worker("q", lambda job, queue: None)
    assert [job.status.hget() for job in runs_of("x:q")] == [STATUSES.SUCCESS] * 2
    assert status_of("x:q") == "STP"  # NOW ran once, then no run is left


def test_continue_set_twice_before_its_run_is_taken_keeps_going(clock):
    set_schedule("x:q", "CONTINUE")
    set_schedule("x:q", "CONTINUE")  # a dispatcher restarted with --schedules sets it again
    assert Queue.count_waiting_jobs("q") == 1  # one run waits: the first was replaced, not doubled
    run_worker("q", lambda job, queue: None, loops=3)
    assert [job.status.hget() for job in runs_of("x:q")] == [
        STATUSES.CANCELED, STATUSES.SUCCESS, STATUSES.SUCCESS, STATUSES.SUCCESS, STATUSES.WAITING]
    assert status_of("x:q") == "ENQ"


def test_a_set_while_the_end_of_a_run_is_written_keeps_one_next_run(clock):
    set_schedule("x:q", "CONTINUE")

    class SetBetweenEndAndHooks(WorkerObserver):
        def after_record(self, worker, attempt, ending):  # the run is SUCCESS, its hooks not called yet
            set_schedule("x:q", f"AT:{clock.time() + 60}")

    Worker("q", callback=lambda job, queue: None, max_loops=1, timeout=0.05, terminate_gracefuly=False,
           observers=[SetBetweenEndAndHooks()]).run()
    assert tell("x:q")["next_run"] == clock.time() + 60 and status_of("x:q") == "TML"
    assert Queue.count_waiting_jobs("q") == 0  # the old CONTINUE did not add a run besides


def test_a_deferred_run_is_placed_even_when_the_running_run_fails(clock):
    set_schedule("x:q", "CONTINUE")

    def fail_after_a_new_set(job, queue):
        set_schedule("x:q", f"AT:{clock.time() + 60}")
        raise ValueError("the old run fails")

    run_worker("q", fail_after_a_new_set)
    assert status_of("x:q") == "TML" and tell("x:q")["next_run"] == clock.time() + 60


def test_dispatch_of_an_occurrence_while_a_run_of_the_same_schedule_runs_defers_it(clock):
    set_schedule("x:q", "CONTINUE")

    def occurrence_due_meanwhile(job, queue):
        # an occurrence reaches the timeline while this run runs (as after a restore of Redis data)
        timeline().connection.zadd(timeline().key, {"x:q": clock.time()})
        assert dispatch() == []  # not a second run: it waits for this one's end
        assert Queue.count_waiting_jobs("q") == 0

    run_worker("q", occurrence_due_meanwhile)
    assert Queue.count_waiting_jobs("q") == 1  # CONTINUE placed its next run; the deferred one is the same


# --- recurring runs and the worker's retries, timeouts


def test_recurring_runs_are_never_retried_by_the_worker(clock):
    for job_id in ("a:q", "b:q"):
        set_schedule(job_id, "CONTINUE")

    def callback(job, queue):
        raise {"a:q": StopWork, "b:q": ValueError}[job.identifier.hget()]("no")

    worker = Worker("q", callback=callback, max_loops=10, burst=True, requeue_times=2, requeue_delay_delta=0,
                    timeout=0.05, terminate_gracefuly=False)
    worker.run()
    assert worker.num_loops == 2  # one run each, no retry
    assert status_of("a:q") == "STP" and tell("a:q")["schedule"] == "STOP"
    assert status_of("b:q") == "DIE" and tell("b:q")["reason"] == "ValueError: no"


def test_each_run_has_its_schedules_timeout_or_the_default():
    set_schedule("a:q", "NOW", timeout=2.5)
    set_schedule("b:q", "NOW")
    assert [run.timeout.hget() for run in runs_of("a:q") + runs_of("b:q")] == ["2.5", str(DEFAULT_TIMEOUT)]
    assert DEFAULT_TIMEOUT == 10


def _hang(job, queue):
    time.sleep(3600)  # stopped by the run's timeout (a test whose run is not stopped hangs)


def test_a_run_past_its_schedules_timeout_dies_in_process_and_is_not_rescheduled():
    set_schedule("slow:q", "CONTINUE", timeout=0.2)
    Worker("q", callback=_hang, max_loops=1, timeout=0.05, terminate_gracefuly=False).run()
    assert status_of("slow:q") == "DIE" and "JobTimeout" in tell("slow:q")["reason"]
    assert tell("slow:q")["next_run"] is None and Queue.count_waiting_jobs("q") == 0


def test_halt_reaches_an_idle_worker_whose_queue_never_had_a_job(threads):
    registered = threading.Event()

    class SignalingWorker(Worker):
        def start_beating(self):
            super().start_beating()
            registered.set()

    worker = SignalingWorker("never-used", callback=lambda job, queue: None, max_loops=0, timeout=3600,
                             fetch_priorities_delay=3600, fetch_delayed_delay=3600, terminate_gracefuly=False)

    def halt_once_registered():
        assert registered.wait(20)
        from limpyd_jobs.recurring.scheduler import control

        control("HALT")

    threads.start(halt_once_registered)
    worker.run()  # would wait an hour for its queue if HALT did not wake it
    threads.join()
    assert worker.end_forced and worker.num_loops == 0


# --- on_error: a failed run ends its schedule (DIE), unless the schedule says continue


def test_a_schedule_set_to_continue_on_error_survives_a_failed_run(clock):
    daily = "DTSTART:20200101T090000Z\nRRULE:FREQ=DAILY"
    set_schedule("report:q", daily, after=0, on_error="continue")
    set_schedule("other:q", daily, after=0)  # the default: redbike's DIE
    assert tell("report:q")["on_error"] == "continue" and tell("other:q")["on_error"] == "die"

    def fail(job, queue):
        raise ValueError("the mail server is down")

    run_worker("q", fail, loops=2)
    told = tell("report:q")
    assert status_of("report:q") == "TML" and told["next_run"] > clock.time()
    assert told["reason"] == "the last run failed: ValueError: the mail server is down"
    assert status_of("other:q") == "DIE" and tell("other:q")["next_run"] is None
    clock.advance(86400)
    assert dispatch() == ["report:q"]  # tomorrow's run comes, and this one succeeds
    run_worker("q", lambda job, queue: None)
    assert status_of("report:q") == "TML" and tell("report:q")["reason"] is None


def test_on_error_refuses_an_unknown_word():
    with pytest.raises(ValueError, match="on_error"):
        set_schedule("report:q", "CONTINUE", on_error="retry")
    assert tell("report:q")["status"] is None
