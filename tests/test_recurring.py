"""Recurring jobs: set/unset, the timeline, dispatch, and rescheduling by ordinary workers."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from limpyd_jobs import STATUSES, Queue
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.recurring.scheduler import (
    RecurringJob,
    StopWork,
    UnsetJob,
    dispatch,
    set_schedule,
    tell,
    unset_schedule,
)
from limpyd_jobs.workers import Worker

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


def test_schedule_command(tmp_path, redis_server, capsys, clock):
    from limpyd_jobs.cli.schedule import main

    database = f"--database=127.0.0.1:{redis_server.port}:0"

    def run(*args):
        code = main([database, *args])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("set", "report:daily", f"AT:{clock.time() + 3600}")[:2] == (0, "TML\n")
    code, out, _ = run("tell", "report:daily")
    told = json.loads(out)
    assert told["status"] == f"TML:{int(clock.time())}" and told["next_run"] == clock.time() + 3600
    assert run("schedules")[1].startswith("report:daily,AT:")
    assert run("statuses")[1] == f"report:daily,TML,{int(clock.time())}\r\n"
    assert run("statuses", f"--before={clock.time() - 3600}")[1] == ""
    csv_file = tmp_path / "schedules.csv"
    csv_file.write_text("job1:q,NOW\njob2:q,STOP\n")
    timefile = tmp_path / "timefile"
    code, out, _ = run("dispatch", f"--schedules={csv_file}", f"--timefile={timefile}", "--once")
    assert code == 0 and out == "0\n"  # job1 was queued by set itself, which does not wait
    assert float(timefile.read_text()) == clock.time()
    assert Queue.count_waiting_jobs("q") == 1
    assert run("unset", "report:daily")[0] == 0
    assert run("control", "HALT")[0] == 0 and run("control", "CLEAR")[0] == 0
    code, _, err = run("set", "x:q", "WHENEVER")
    assert code == 0  # a bad schedule is recorded as BAD, not a usage error
    assert run("tell", "x:q")[1].count('"BAD:') == 1


def test_schedule_command_misuse_and_config(tmp_path, redis_server, capsys):
    from limpyd_jobs.cli.schedule import main

    assert main(["set", "only-a-job-id"]) == 2
    assert "usage" in capsys.readouterr().err
    assert main(["--config=/no/such/file.ini", "schedules"]) == 2
    assert "cannot read" in capsys.readouterr().err
    config = tmp_path / "schedule.ini"
    config.write_text(f"[limpyd-jobs-redis]\nhost = 127.0.0.1\nport = {redis_server.port}\ndb = 0\n"
                      "[other]\nignored = yes\n")
    assert main([f"--config={config}", "set", "a:q", "NOW"]) == 0
    assert Queue.count_waiting_jobs("q") == 1


def test_set_while_a_run_is_in_progress_is_the_one_that_counts(clock):
    set_schedule("a:q", "CONTINUE")

    def callback(job, queue):
        set_schedule("a:q", f"AT:{clock.time() + 3600}")

    run_worker("q", callback)
    assert status_of("a:q") == "TML" and tell("a:q")["next_run"] == clock.time() + 3600
    assert Queue.count_waiting_jobs("q") == 0  # CONTINUE did not requeue it


def _sleep(job, queue):
    time.sleep(3600)  # killed at its timeout (a test whose run is not stopped hangs)


def test_a_run_past_its_timeout_is_not_rescheduled():
    set_schedule("slow:q", "CONTINUE")
    Worker("q", callback=_sleep, max_loops=1, timeout=0.05, terminate_gracefuly=False,
           execution_mode="fork", job_timeout=0.2, timeout_grace=0.2).run()
    assert status_of("slow:q") == "DIE"
    assert tell("slow:q")["next_run"] is None and Queue.count_waiting_jobs("q") == 0


def test_missed_occurrences_run_once_after_downtime(clock):
    set_schedule("report:q", "DTSTART:20200101T000000Z\nRRULE:FREQ=MINUTELY", after=clock.time() - 3600)
    # an hour of occurrences were missed: the job is queued once, then goes on from now
    assert Queue.count_waiting_jobs("q") == 1 and dispatch() == []
    clock.advance(20)
    run_worker("q", lambda job, queue: None)
    assert tell("report:q")["next_run"] == clock.time() + 40  # the next whole minute


def test_schedule_command_names_an_unreachable_redis(capsys):
    from limpyd_jobs.cli.schedule import main
    from limpyd_jobs.testing.server import free_port

    port = free_port()
    assert main([f"--database=127.0.0.1:{port}:0", "schedules"]) == 3
    assert f"127.0.0.1:{port} db 0" in capsys.readouterr().err
