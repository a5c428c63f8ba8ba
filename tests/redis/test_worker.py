"""The Worker: its parameters, loop, job outcomes, hooks, signals and process title."""

from __future__ import annotations

import logging
import os
import signal
import threading
from datetime import timedelta

import pytest
from sample_jobs import AlwaysCancelJob, DetailedError, HookJob, NamedQueue, ResizeJob, failing, noop

import limpyd_jobs
from limpyd_jobs import STATUSES, ConfigurationException, Error, Job, LimpydJobsException, Queue
from limpyd_jobs.constants import LOGGER_NAME
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.utils import datetime_to_str, str_to_datetime
from limpyd_jobs.workers import Worker
from limpyd_jobs.workers.observers import WorkerObserver
from limpyd_jobs.workers.title import proc_title


def hooks(job):
    return job.get_connection().lrange(f"hooks:{job.pk.get()}", 0, -1)


# --- parameters


def test_parameters_tuple_and_defaults(make_worker):
    assert Worker.parameters[:17] == (  # the documented ones, then ours
        "queues", "callback", "queue_model", "error_model", "logger_name", "logger_level",
        "save_errors", "save_tracebacks", "max_loops", "max_duration", "terminate_gracefuly",
        "timeout", "fetch_priorities_delay", "fetch_delayed_delay", "requeue_times",
        "requeue_priority_delta", "requeue_delay_delta",
    )
    assert Worker.parameters[17:] == (
        "requeue_backoff", "requeue_jitter", "requeue_max_delay", "never_retry", "burst", "prefetch",
        "execution_mode", "concurrency", "job_timeout", "timeout_grace", "heartbeat_interval",
        "heartbeat_timeout",
        "recovery_delay", "lost_job_max_tries", "queue_cycle", "job_modules", "metrics_port", "metrics_host",
        "keep_finished",
        "finished_ttl",
        "purge_delay", "observers", "clock",
    )
    worker = make_worker()
    assert worker.queues == ["q"]
    assert worker.queue_model is Queue and worker.error_model is Error
    assert worker.logger_name == LOGGER_NAME == "limpyd-jobs"
    assert worker.logger_level == logging.INFO
    assert worker.save_errors is True and worker.save_tracebacks is True
    assert worker.max_loops == 1000 and worker.max_duration is None
    assert Worker.timeout == 30 and Worker.fetch_priorities_delay == 25 and Worker.fetch_delayed_delay == 25
    assert worker.requeue_times == 0 and worker.requeue_priority_delta == -1
    assert worker.requeue_delay_delta == 30
    assert worker.requeue_backoff == 1 and worker.requeue_jitter == 0 and worker.requeue_max_delay is None
    assert worker.never_retry == () and worker.burst is False
    assert worker.callback == worker.execute
    assert worker.status is None and worker.num_loops == 0 and worker.elapsed is None


def test_parameters_as_class_attributes():
    class MyWorker(Worker):
        queues = "a,b"
        max_loops = 5
        terminate_gracefuly = False

    worker = MyWorker()
    assert worker.queues == ["a", "b"] and worker.max_loops == 5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"queues": None}, "queues"),
        ({"nope": 1}, "nope"),
        ({"callback": 3}, "callback"),
        ({"queue_model": Job}, "queue_model"),
        ({"error_model": "no.such.Model"}, "error_model"),
        ({"max_loops": -1}, "The max-loops argument"),  # redis-limpyd-jobs 2's words, with the flag
        ({"timeout": -1}, "The timeout argument"),
        ({"requeue_times": "x"}, "option --requeue-times"),
        ({"logger_level": "LOUD"}, "Invalid logger-level LOUD"),
    ],
)
def test_bad_parameters_raise_configuration_errors(kwargs, message):
    kwargs = {"queues": "q", **kwargs}
    with pytest.raises(ConfigurationException, match=message):
        Worker(terminate_gracefuly=False, **kwargs)


def test_models_can_be_given_by_dotted_path(make_worker):
    worker = make_worker(queue_model="sample_jobs.NamedQueue", error_model="sample_jobs.DetailedError")
    assert worker.queue_model is NamedQueue and worker.error_model is DetailedError


# --- the loop


def test_run_executes_jobs_highest_priority_first_across_queues(make_worker, clock):
    order = []
    low = Job.add_job(identifier="low", queue_name="a", priority=0)
    high = Job.add_job(identifier="high", queue_name="b", priority=5)
    mid = Job.add_job(identifier="mid", queue_name="a", priority=2)

    def work_two_seconds(job, queue):
        order.append(job.identifier.hget())
        clock.advance(2)

    make_worker("a,b", callback=work_two_seconds, max_loops=3).run()
    assert order == ["high", "mid", "low"]
    for job in (low, high, mid):
        assert job.status.hget() == STATUSES.SUCCESS
        assert job.queued.hget() is None
        assert job.tries.hget() == "1"
        assert job.duration == timedelta(seconds=2)
    assert Queue.get_queue("a", 2).success.lmembers() == [mid.ident]
    assert Queue.get_queue("b", 5).success.lmembers() == [high.ident]


def test_run_cannot_be_called_twice(make_worker, clock):
    worker = make_worker(max_loops=1, callback=lambda job, queue: clock.advance(5))
    Job.add_job(identifier="job:1", queue_name="q")
    worker.run()
    assert worker.status == "terminated"
    assert worker.elapsed == worker.end_date - worker.start_date == timedelta(seconds=5)
    with pytest.raises(LimpydJobsException, match="already run"):
        worker.run()


def test_max_loops_counts_fetched_jobs_even_skipped(make_worker):
    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    Job.collection(identifier="job:0").instances()[0].status.hset(STATUSES.CANCELED)
    worker = make_worker(callback=noop, max_loops=2)
    worker.run()
    assert worker.num_loops == 2
    assert Queue.count_waiting_jobs("q") == 1


class _Ticking(WorkerObserver):
    """Moves the clock by ``step`` seconds each time the worker looks for a job."""

    def __init__(self, clock, step):
        self.clock, self.step = clock, step

    def before_fetch(self, worker):
        self.clock.advance(self.step)


def test_max_duration_ends_an_idle_worker(make_worker, clock):
    Queue.get_queue("q")  # a worker waits for jobs once one of its queues exists
    worker = make_worker(max_duration=60, observers=[_Ticking(clock, 20)])
    worker.run()
    assert worker.wanted_end_date == worker.start_date + timedelta(seconds=60)
    assert worker.end_date == worker.wanted_end_date  # after the third look, 60 s later
    assert worker.num_loops == 0


def test_default_callback_runs_the_job_run_method():
    job = ResizeJob.add_job(identifier="photo:1", size="5x5")
    results = []

    class RecordingWorker(Worker):
        def job_success(self, job, queue, job_result):
            super().job_success(job, queue, job_result)
            results.append(job_result)

    RecordingWorker("resize", queue_model=NamedQueue, max_loops=1, timeout=0.05,
                    terminate_gracefuly=False).run()
    assert results == ["resized to 5x5"]
    assert job.status.hget() == STATUSES.SUCCESS


def test_job_without_run_ends_in_error(make_worker):
    job = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(max_loops=1).run()
    assert job.status.hget() == STATUSES.ERROR
    error = Error.collection_for_job(job).instances()[0]
    assert error.type.hget() == "NotImplementedError"


def test_job_hooks_are_called_in_order(make_worker):
    good = HookJob.add_job(identifier="good", queue_name="q")
    bad = HookJob.add_job(identifier="bad", queue_name="q")

    def callback(job, queue):
        if job == bad:
            raise ValueError("no")
        return job.run(queue)

    make_worker(callback=callback, max_loops=2, requeue_times=1).run()
    assert hooks(good) == ["started", "success:ran"]
    assert hooks(bad) == ["started", "error:ValueError", "requeued"]


def test_a_failing_hook_is_logged_and_the_job_state_stays_true(caplog):
    class BrokenWorker(Worker):
        def job_success(self, job, queue, job_result):
            raise RuntimeError("hook broke")

    job = Job.add_job(identifier="job:1", queue_name="q")
    BrokenWorker("q", callback=noop, max_loops=1, timeout=0.05, terminate_gracefuly=False).run()
    assert job.status.hget() == STATUSES.SUCCESS
    assert job.queued.hget() is None
    assert f"job_success failed for job {job.ident}" in caplog.text
    assert "hook broke" in caplog.text


# --- errors and requeue


def test_a_failure_while_saving_the_error_still_requeues_the_job(caplog):
    class BrokenErrorWorker(Worker):
        def additional_error_fields(self, job, queue, exception, trace=None):
            return {"no_such_field": 1}

    job = Job.add_job(identifier="job:1", queue_name="q")
    worker = BrokenErrorWorker("q", callback=failing, max_loops=1, requeue_times=1, timeout=0.05,
                               terminate_gracefuly=False)
    worker.run()
    assert job.status.hget() == STATUSES.DELAYED and job.queued.hget() == "1"
    assert f"job_error failed for job {job.ident}" in caplog.text
    assert worker.connection.zcard(worker.running_key) == 0


def test_error_is_saved_with_traceback_and_job_is_not_requeued_by_default(make_worker):
    job = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=failing, max_loops=1).run()
    assert job.status.hget() == STATUSES.ERROR
    assert job.queued.hget() is None
    assert Queue.get_queue("q").errors.lmembers() == [job.ident]
    error = Error.collection_for_job(job).instances()[0]
    assert error.message.hget() == "failed job:1"
    assert error.queue_name.hget() == "q"
    assert "Traceback" in error.traceback.hget() and "ValueError" in error.traceback.hget()
    assert Queue.count_waiting_jobs("q") == Queue.count_delayed_jobs("q") == 0


def test_save_tracebacks_and_save_errors_off(make_worker):
    first = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=failing, max_loops=1, save_tracebacks=False).run()
    assert Error.collection_for_job(first).instances()[0].traceback.hget() is None
    second = Job.add_job(identifier="job:2", queue_name="q")
    make_worker(callback=failing, max_loops=1, save_errors=False).run()
    assert len(Error.collection_for_job(second)) == 0
    assert second.status.hget() == STATUSES.ERROR


def test_requeue_arithmetic_priority_and_delay(make_worker, clock):
    job = Job.add_job(identifier="job:1", queue_name="q", priority=3)
    make_worker(callback=failing, max_loops=1, requeue_times=2, requeue_priority_delta=-2,
                requeue_delay_delta=60).run()
    assert job.status.hget() == STATUSES.DELAYED
    assert job.queued.hget() == "1"
    assert job.priority.hget() == "1"
    assert Queue.get_queue("q", 1).delayed.zrange(0, -1) == [job.ident]
    assert str_to_datetime(job.delayed_until.hget()) == clock.now() + timedelta(seconds=60)


def test_requeued_until_requeue_times_then_final_error(make_worker):
    job = Job.add_job(identifier="job:1", queue_name="q", priority=0)
    worker = make_worker(callback=failing, max_loops=3, requeue_times=2, requeue_delay_delta=0,
                         requeue_priority_delta=0)
    worker.run()
    assert job.tries.hget() == "3"
    assert job.status.hget() == STATUSES.ERROR
    assert job.queued.hget() is None
    assert len(Error.collection_for_job(job)) == 3
    assert Queue.get_queue("q").errors.lmembers() == [job.ident] * 3
    assert worker.connection.zcard(worker.running_key) == 0


def test_jobs_cancelled_on_error_are_not_requeued(make_worker):
    job = AlwaysCancelJob.add_job(identifier="job:1", queue_name="q")
    other = Job.add_job(identifier="job:2", queue_name="q", cancel_on_error=1)
    make_worker(callback=failing, max_loops=2, requeue_times=5, requeue_delay_delta=0).run()
    for each in (job, other):
        assert each.status.hget() == STATUSES.ERROR and each.queued.hget() is None
    assert Queue.count_waiting_jobs("q") == 0


def test_additional_error_fields_go_to_the_error_model():
    class NotingWorker(Worker):
        def additional_error_fields(self, job, queue, exception, trace=None):
            return {"worker_note": f"seen by {self.id}"}

    job = Job.add_job(identifier="job:1", queue_name="q")
    worker = NotingWorker("q", callback=failing, error_model=DetailedError, max_loops=1, timeout=0.05,
                          terminate_gracefuly=False)
    worker.run()
    error = DetailedError.collection_for_job(job).instances()[0]
    assert error.worker_note.hget() == f"seen by {worker.id}"


# --- skipped, canceled, delayed


def test_a_job_not_waiting_is_skipped(make_worker, caplog):
    job = HookJob.add_job(identifier="job:1", queue_name="q")
    job.status.hset(STATUSES.CANCELED)
    ran = []
    make_worker(callback=lambda job, queue: ran.append(job), max_loops=1).run()
    assert ran == []
    assert job.status.hget() == STATUSES.CANCELED
    assert job.queued.hget() is None
    assert hooks(job) == ["skipped"]
    assert "job skipped (current status: CANCELED)" in caplog.text


def test_a_job_canceled_while_running_is_skipped_not_successful(make_worker):
    job = HookJob.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=lambda job, queue: job.status.hset(STATUSES.CANCELED), max_loops=1).run()
    assert job.status.hget() == STATUSES.CANCELED
    assert job.queued.hget() is None
    assert Queue.get_queue("q").success.lmembers() == []
    assert hooks(job) == ["started", "skipped"]


def test_a_job_delayed_while_running_is_delayed(make_worker, clock):
    job = HookJob.add_job(identifier="job:1", queue_name="q")
    until = clock.now() + timedelta(minutes=5)

    def delay(job, queue):
        job.delayed_until.hset(datetime_to_str(until))
        job.status.hset(STATUSES.DELAYED)

    worker = make_worker(callback=delay, max_loops=1)
    worker.run()
    assert job.status.hget() == STATUSES.DELAYED and job.queued.hget() == "1"
    assert Queue.get_queue("q").delayed.zscore(job.ident) == pytest.approx(until.timestamp())
    assert hooks(job) == ["started", "delayed"]
    assert worker.connection.zcard(worker.running_key) == 0


def test_a_delayed_job_without_date_is_delayed_for_60_seconds(make_worker, clock):
    job = Job.add_job(identifier="job:1", queue_name="q")
    job.status.hset(STATUSES.DELAYED)  # set while in the waiting list, no delayed_until
    make_worker(callback=noop, max_loops=1).run()
    assert str_to_datetime(job.delayed_until.hget()) == clock.now() + timedelta(seconds=60)
    assert job.status.hget() == STATUSES.DELAYED


def test_a_missing_job_in_a_list_is_logged_and_the_next_one_runs(make_worker, caplog):
    queue = Queue.get_queue("q")
    queue.waiting.rpush("limpyd_jobs.models.Job:999")
    job = Job.add_job(identifier="job:1", queue_name="q")
    make_worker(callback=noop, max_loops=1).run()
    assert job.status.hget() == STATUSES.SUCCESS
    assert "limpyd_jobs.models.Job:999" in caplog.text and "does not exist" in caplog.text


def test_an_ident_of_an_unknown_model_is_logged_and_skipped(make_worker, caplog):
    Queue.get_queue("q").waiting.rpush("no.such.Model:1")
    job = Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker(callback=noop, max_loops=1)
    worker.run()
    assert job.status.hget() == STATUSES.SUCCESS
    assert "no.such.Model:1" in caplog.text
    assert worker.connection.zcard(worker.running_key) == 0


# --- delayed jobs and new priorities


def test_worker_moves_due_delayed_jobs_then_runs_them(make_worker, clock):
    job = Job.add_job(identifier="job:1", queue_name="q", delayed_for=30)
    clock.advance(31)
    make_worker(callback=noop, max_loops=1, fetch_delayed_delay=0).run()
    assert job.status.hget() == STATUSES.SUCCESS


def test_new_priorities_are_picked_up_after_fetch_priorities_delay(make_worker):
    Job.add_job(identifier="first", queue_name="q", priority=0)
    seen = []

    def add_in_new_priority(job, queue):
        seen.append(job.identifier.hget())
        if len(seen) == 1:
            Job.add_job(identifier="second", queue_name="q", priority=7)

    make_worker(callback=add_in_new_priority, max_loops=2, fetch_priorities_delay=0).run()
    assert seen == ["first", "second"]


def test_an_idle_worker_wakes_up_when_a_job_is_added(make_worker, threads):
    Queue.get_queue("q")  # a worker waits for jobs once one of its queues exists
    worker = make_worker(callback=noop, max_loops=1, timeout=3600, waiting=True, fetch_priorities_delay=3600,
                         fetch_delayed_delay=3600, recovery_delay=3600)

    def add_later():
        assert worker.waiting.wait(20)
        Job.add_job(identifier="job:1", queue_name="q")

    threads.start(add_later)
    worker.run()  # would wait an hour if the added job did not wake it up
    threads.join()
    assert worker.num_loops == 1
    assert Job.collection(identifier="job:1").instances()[0].status.hget() == STATUSES.SUCCESS


# --- logs


def test_the_run_starts_with_a_banner_saying_what_runs(make_worker, caplog, redis_server):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    Queue.get_queue("q")
    worker = make_worker(callback=noop, burst=True, requeue_times=2, requeue_backoff=2)
    worker.run()
    [banner] = [record.getMessage() for record in caplog.records if "started on Redis" in record.getMessage()]
    assert f"limpyd-jobs {limpyd_jobs.__version__} worker {worker.id} started on Redis " in banner
    assert f":{redis_server.port} db " in banner
    assert ("queues=q mode=inprocess burst max_loops=none max_duration=none job_timeout=none "
            "(recurring runs: 10s unless their schedule sets a timeout)") in banner  # a burst: no max_loops
    assert "requeue_times=2 (delay 30.0s, backoff x2.0)" in banner


def test_job_log_lines_carry_the_job_as_fields(make_worker, caplog, clock):
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    job = Job.add_job(identifier="job:1", queue_name="q")

    def one_second(job, queue):
        clock.advance(1.5)

    worker = make_worker(callback=one_second, max_loops=1)
    worker.run()
    [started, success] = [record for record in caplog.records if getattr(record, "ident", None)]
    for record in (started, success):
        assert (record.worker_id, record.queue, record.identifier, record.ident, record.attempt) == (
            worker.id, "q", "job:1", job.ident, 1)
    assert started.duration == 0 and success.duration == 1.5
    assert all(record.worker_id == worker.id for record in caplog.records if record.name == LOGGER_NAME)


# --- orders of operators: paused queues, a stop asked to one worker


def test_a_worker_skips_a_paused_queue_and_serves_its_others(make_worker, connection):
    Job.add_job(identifier="a:1", queue_name="a")
    Job.add_job(identifier="b:1", queue_name="b")
    connection.sadd(KEYS.paused(), "a")
    ran = []
    worker = make_worker("a,b", callback=lambda job, queue: ran.append(job.identifier.hget()), burst=True)
    worker.run()
    assert ran == ["b:1"] and Queue.count_waiting_jobs("a") == 1
    assert worker.paused == {"a"}


def test_a_worker_whose_queues_are_all_paused_waits_and_resumes_when_told(make_worker, connection, threads):
    Job.add_job(identifier="a:1", queue_name="a")
    connection.sadd(KEYS.paused(), "a")
    worker = make_worker("a", callback=noop, max_loops=1, waiting=True, timeout=3600,
                         fetch_priorities_delay=3600, fetch_delayed_delay=3600, recovery_delay=3600)

    def resume_once_waiting():
        assert worker.waiting.wait(20)
        assert Queue.count_waiting_jobs("a") == 1  # waiting, not run, and the worker did not exit
        connection.srem(KEYS.paused(), "a")
        connection.rpush(worker.wakeup_key, "1")  # as a resume tells the registered workers

    threads.start(resume_once_waiting)
    worker.run()  # would wait an hour if the resume did not wake it up
    threads.join()
    assert worker.num_loops == 1 and Queue.count_waiting_jobs("a") == 0


def test_a_worker_asked_to_stop_stops_after_its_current_job(make_worker, connection):
    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name="q")

    def ask_to_stop(job, queue):
        connection.set(KEYS.worker_control(worker=worker.id), "STOP")
        worker.maintenance.tasks["control"].last = None  # read the orders at the next pass

    worker = make_worker("q", callback=ask_to_stop, max_loops=0)
    worker.run()
    assert worker.num_loops == 1 and worker.end_forced and Queue.count_waiting_jobs("q") == 2


# --- burst mode


def test_burst_runs_every_waiting_and_due_job_then_stops(make_worker, clock):
    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    due = Job.add_job(identifier="due", queue_name="q", delayed_for=5)
    later = Job.add_job(identifier="later", queue_name="q", delayed_for=60)
    clock.advance(10)
    worker = make_worker(callback=noop, burst=True, timeout=3600, max_loops=0)  # would wait an hour
    worker.run()
    assert worker.num_loops == 4 and worker.status == "terminated"
    assert due.status.hget() == STATUSES.SUCCESS
    assert later.status.hget() == STATUSES.DELAYED  # due later: left for a worker that waits


def test_burst_runs_a_retry_put_in_a_queue_that_appeared_during_the_run(make_worker):
    job = Job.add_job(identifier="job", queue_name="q")
    tries = []

    def fail_once(job, queue):
        tries.append(queue.priority.hget())
        if len(tries) == 1:
            raise ValueError("first try fails")

    make_worker(callback=fail_once, burst=True, max_loops=0, requeue_times=1, requeue_delay_delta=0,
                fetch_priorities_delay=3600).run()
    assert tries == ["0", "-1"] and job.status.hget() == STATUSES.SUCCESS  # the retry's queue is new


def test_burst_stops_at_once_when_no_queue_exists(make_worker):
    worker = make_worker(callback=noop, burst=True, timeout=3600)
    worker.run()
    assert worker.num_loops == 0 and worker.status == "terminated"


# --- signals


def test_sigterm_during_a_job_finishes_it_then_stops():
    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name="q")

    def terminate(job, queue):
        os.kill(os.getpid(), signal.SIGTERM)

    worker = Worker("q", callback=terminate, timeout=0.05)  # terminate_gracefuly=True
    worker.run()
    assert worker.end_signal_caught is True and worker.end_forced is True
    assert worker.num_loops == 1
    assert Job.collection(status=STATUSES.SUCCESS).instances()[0].identifier.hget() == "job:0"
    assert Queue.count_waiting_jobs("q") == 2
    assert signal.getsignal(signal.SIGTERM) != worker.catch_end_signal  # given back after run


def test_sigterm_while_waiting_stops_at_once(make_worker, threads):
    Queue.get_queue("q")  # a worker waits for jobs once one of its queues exists
    worker = make_worker(callback=noop, timeout=3600, waiting=True, terminate_gracefuly=True,
                         fetch_priorities_delay=3600, fetch_delayed_delay=3600, recovery_delay=3600)

    def terminate_later():
        assert worker.waiting.wait(20)
        os.kill(os.getpid(), signal.SIGTERM)

    threads.start(terminate_later)
    worker.run()  # would wait an hour if the signal did not cut the wait
    threads.join()
    assert worker.end_signal_caught and worker.status == "terminated"
    assert worker.num_loops == 0


# --- status, title, logs, counts


def test_statuses_and_process_title():
    import setproctitle

    seen = []

    class TitleWorker(Worker):
        update_title = True

        def set_status(self, status):
            super().set_status(status)
            seen.append((status, setproctitle.getproctitle()))

    Job.add_job(identifier="job:1", queue_name="foo")
    Job.add_job(identifier="job:2", queue_name="bar", delayed_for=60)
    worker = TitleWorker("foo,bar", callback=noop, max_loops=1, timeout=0.05, terminate_gracefuly=False)
    worker.run()
    assert [status for status, _ in seen] == ["starting", "running", "terminated"]
    prefix = f"limpyd-jobs-worker#{worker.id}"
    assert seen[0][1] == f"{prefix} [starting] queues=foo,bar loop=0/1 waiting=1 delayed=1"
    assert seen[1][1].startswith(f"{prefix} [running] queues=foo,bar loop=1/1 waiting=0 delayed=1 duration=")
    assert seen[2][1].startswith(f"{prefix} [terminated] queues=foo,bar loop=1/1 waiting=0 delayed=1")
    fresh = Worker("foo,bar", terminate_gracefuly=False)
    assert proc_title(fresh) == f"limpyd-jobs-worker#{fresh.id} [init] queues=foo,bar"


def test_log_prefixes_the_worker_id(make_worker, caplog):
    worker = make_worker()
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        worker.log("hello")
        worker.log("careful", level="warning")
    assert [record.getMessage() for record in caplog.records] == [
        f"[{worker.id}] hello", f"[{worker.id}] careful"
    ]
    assert caplog.records[1].levelname == "WARNING"


def test_count_waiting_and_delayed_jobs(make_worker):
    Job.add_job(identifier="1", queue_name="a")
    Job.add_job(identifier="2", queue_name="b", priority=3)
    Job.add_job(identifier="3", queue_name="a", delayed_for=30)
    worker = make_worker("a,b")
    assert worker.count_waiting_jobs() == 2
    assert worker.count_delayed_jobs() == 1


# --- round trips


def test_a_job_costs_one_round_trip_while_the_queue_is_not_empty(make_worker, round_trips):
    for number in range(4):
        Job.add_job(identifier=f"job:{number}", queue_name="q", priority=number % 2)
    worker = make_worker("q", callback=noop)
    worker.update_keys()
    worker.run_one()  # the first pass also runs the periodic maintenance and a plain fetch
    with round_trips() as trips:
        assert worker.run_one() and worker.run_one()
    # each run ends its job and takes the next one in the same script
    assert trips.commands == ["EVALSHA", "EVALSHA"]


def test_a_job_that_reads_its_fields_costs_what_a_job_that_reads_nothing_costs(make_worker, round_trips):
    for number in range(4):
        ResizeJob.add_job(identifier=f"photo:{number}", queue_name="q", owner="ann")
    seen = []

    def read_fields(job, queue):
        seen.append((job.identifier.hget(), job.size.hget(), job.owner.hget(), job.status.hget(),
                     job.tries.hget(), job.hmget("identifier", "priority", "end")))

    worker = make_worker("q", callback=read_fields, queue_model=NamedQueue)
    worker.update_keys()
    worker.run_one()
    with round_trips() as trips:
        assert worker.run_one() and worker.run_one()
    assert trips.commands == ["EVALSHA", "EVALSHA"]  # as for a job that reads nothing
    assert seen[1] == ("photo:1", "100x100", "ann", STATUSES.RUNNING, "1", ["photo:1", "0", None])


@pytest.mark.parametrize("prefetch", [1, 3])
def test_the_fields_a_job_reads_while_it_runs_are_those_in_redis(make_worker, connection, prefetch):
    jobs = [ResizeJob.add_job(identifier=f"photo:{number}", queue_name="q", owner="ann")
            for number in range(3)]
    connection.hset(jobs[1].key, mapping={"tries": "2", "end": "2026-01-01 00:00:00"})  # an earlier attempt's
    seen = []

    def compare(job, queue):
        names = sorted(job._instancehash_fields)
        served, in_redis = job.hmget(*names), connection.hmget(job.key, names)
        seen.append((dict(zip(names, served, strict=True)), dict(zip(names, in_redis, strict=True))))

    make_worker("q", callback=compare, queue_model=NamedQueue, prefetch=prefetch, max_loops=3).run()
    assert len(seen) == 3
    for served, in_redis in seen:
        assert served == in_redis
    retried = seen[1][0]
    assert retried["tries"] == "3" and retried["end"] is None and retried["status"] == STATUSES.RUNNING


def test_a_field_written_through_the_job_is_read_from_redis_and_hooks_read_the_end(make_worker):
    job = HookJob.add_job(identifier="job:1", queue_name="q")
    seen = []

    def write_then_read(job, queue):
        job.priority.hset(7)
        seen.append(job.priority.hget())  # written through this instance: not the snapshot's "0"
        job.get_connection().hset(job.key, "identifier", "changed elsewhere")
        seen.append(job.identifier.hget())  # written by someone else: the snapshot's, while it runs

    class Looking(WorkerObserver):
        def after_record(self, worker, attempt, ending):
            seen.append(attempt.job.status.hget())  # after the run: from Redis

    make_worker("q", callback=write_then_read, max_loops=1, observers=[Looking()]).run()
    assert seen == ["7", "job:1", STATUSES.SUCCESS]
    assert hooks(job) == ["started", "success:None"]


# --- prefetch


def test_prefetch_takes_and_records_jobs_in_batches_under_one_round_trip_each(make_worker, round_trips):
    for number in range(12):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    seen = []

    def record_status(job, queue):
        seen.append((job.identifier.hget(), job.status.hget()))

    worker = make_worker("q", callback=record_status, prefetch=4, max_loops=0)
    worker.update_keys()
    worker.maintenance.run_due()
    for _ in range(4):  # the first batch (and the scripts loaded in Redis)
        assert worker.run_one()
    with round_trips() as trips:
        for _ in range(8):
            assert worker.run_one()
    # the 4 successes of a batch are written with the take of the next 4, in one script
    assert trips.commands == ["EVALSHA", "EVALSHA"], trips.commands
    assert seen == [(f"job:{number}", STATUSES.RUNNING) for number in range(12)]
    assert len(Job.collection(status=STATUSES.SUCCESS)) == 12
    assert worker.connection.zcard(worker.running_key) == 0


@pytest.mark.parametrize("prefetch", [0, 1001])
def test_prefetch_is_bounded(make_worker, prefetch):
    with pytest.raises(ConfigurationException, match="prefetch"):  # a batch's writes have a size limit
        make_worker(prefetch=prefetch)


def test_prefetched_jobs_run_before_a_higher_priority_job_added_meanwhile(make_worker):
    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name="q", priority=0)
    order = []

    def note(job, queue):
        order.append(job.identifier.hget())
        if len(order) == 1:
            Job.add_job(identifier="urgent", queue_name="q", priority=9)

    make_worker("q", callback=note, prefetch=3, max_loops=4, fetch_priorities_delay=0).run()
    assert order == ["job:0", "job:1", "job:2", "urgent"]  # taken ahead: at most prefetch - 1 jobs first


def test_a_stop_gives_untouched_prefetched_jobs_back_in_order_and_records_the_done_ones(make_worker):
    jobs = [HookJob.add_job(identifier=f"job:{number}", queue_name="q") for number in range(6)]

    def stop_after_the_second(job, queue):
        if job.identifier.hget() == "job:1":
            worker.end_forced = True

    worker = make_worker("q", callback=stop_after_the_second, prefetch=4, max_loops=0)
    worker.run()
    assert [job.status.hget() for job in jobs] == [STATUSES.SUCCESS] * 2 + [STATUSES.WAITING] * 4
    assert hooks(jobs[0]) == ["started", "success:None"] and hooks(jobs[2]) == []
    assert Queue.get_queue("q").waiting.lmembers() == [job.ident for job in jobs[2:]]  # front, in order
    assert [job.tries.hget() for job in jobs[2:]] == ["0", "0", None, None]  # as if never taken
    assert worker.connection.zcard(worker.running_key) == 0


def test_taking_and_finishing_a_job_is_at_most_two_round_trips(make_worker, round_trips):
    Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker("q", callback=noop, max_loops=1)
    worker.update_keys()
    worker.maintenance.run_due()
    with round_trips() as trips:
        assert worker.run_one()  # fetch, then a plain finish: max_loops says no next job
    assert trips.commands == ["EVALSHA", "EVALSHA"]


def test_a_job_taken_with_the_last_end_is_given_back_when_the_worker_stops(make_worker):
    first = Job.add_job(identifier="job:1", queue_name="q")
    second = Job.add_job(identifier="job:2", queue_name="q")

    worker = make_worker("q", callback=noop)
    worker.update_keys()
    worker.run_one()  # job:1 ends and job:2 is taken with it
    assert second.status.hget() == STATUSES.RUNNING
    worker.holdings.give_back_unstarted()
    assert first.status.hget() == STATUSES.SUCCESS
    assert second.status.hget() == STATUSES.WAITING
    assert Queue.get_queue("q").waiting.lmembers() == [second.ident]
    assert worker.connection.zcard(worker.running_key) == 0


def test_the_worker_purges_finished_jobs_beyond_keep_finished(make_worker):
    for number in range(5):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    make_worker(callback=noop, max_loops=5, keep_finished=2).run()
    worker = make_worker(keep_finished=2)
    worker.update_keys()
    worker.maintenance.run_due()  # its first maintenance purges
    assert Queue.get_queue("q").success.llen() == 2
    assert len(Job.collection()) == 2


def test_a_burst_wakes_every_idle_worker(make_worker, threads):
    Queue.get_queue("q")  # a worker waits for jobs once one of its queues exists
    both_running = threading.Barrier(2, timeout=20)

    def together(job, queue):
        both_running.wait()  # breaks (and the job fails) unless the two workers run at once

    workers = [make_worker(callback=together, max_loops=2, timeout=30, waiting=True) for _ in range(2)]
    for worker in workers:
        threads.start(worker.run)
    assert all(worker.waiting.wait(20) for worker in workers)
    Job.add_jobs([f"job:{number}" for number in range(4)], queue_name="q")
    threads.join()
    assert {job.status.hget() for job in Job.collection().instances()} == {STATUSES.SUCCESS}


def test_queue_cycle_works_queues_in_a_ratio(make_worker):
    for number in range(6):
        Job.add_job(identifier=f"a{number}", queue_name="A", priority=5)  # A has the higher priority
        Job.add_job(identifier=f"b{number}", queue_name="B")
    order = []
    make_worker("A,B", callback=lambda job, queue: order.append(job.identifier.hget()[0]),
                max_loops=9, queue_cycle="A:A:B").run()
    assert "".join(order) == "AABAABAAB".lower()


def test_queue_cycle_falls_back_on_other_queues_and_is_checked(make_worker):
    Job.add_job(identifier="b0", queue_name="B")
    order = []
    make_worker("A,B", callback=lambda job, queue: order.append(job.identifier.hget()),
                max_loops=1, queue_cycle="A:B").run()
    assert order == ["b0"]  # A's turn, but A is empty
    with pytest.raises(ConfigurationException, match="queue_cycle"):
        make_worker("A,B", queue_cycle="A:C")


# --- observers


class _Recording(WorkerObserver):
    def __init__(self):
        self.events = []

    def on_start(self, worker):
        self.events.append("start")

    def after_fetch(self, worker, attempt):
        self.events.append(f"fetched {attempt.identifier if attempt else None}")

    def before_run(self, worker, attempt):
        self.events.append(f"run {attempt.identifier}")

    def after_run(self, worker, attempt, error):
        self.events.append(f"ran {type(error).__name__ if error else 'ok'}")

    def before_record(self, worker, attempt, ending):
        self.events.append(f"record {ending}")

    def after_record(self, worker, attempt, ending):
        self.events.append(f"recorded {ending}")

    def on_stop(self, worker):
        self.events.append("stop")


def test_observers_see_each_step_in_order(make_worker):
    Job.add_job(identifier="good", queue_name="q")
    Job.add_job(identifier="bad", queue_name="q")
    observer = _Recording()

    def callback(job, queue):
        if job.identifier.hget() == "bad":
            raise ValueError("no")

    make_worker(callback=callback, max_loops=2, observers=[observer]).run()
    assert observer.events == [
        "start",
        "fetched good", "run good", "ran ok", "record success", "recorded success",
        "fetched bad", "run bad", "ran ValueError", "record error", "recorded error",
        "stop",
    ]


class _Broken(WorkerObserver):
    def before_record(self, worker, attempt, ending):
        raise RuntimeError("observer broke")


def test_a_failing_observer_is_logged_and_loses_no_job(make_worker, caplog):
    job = Job.add_job(identifier="job:1", queue_name="q")
    worker = make_worker(callback=noop, max_loops=1, observers=[_Broken()])
    worker.run()
    assert job.status.hget() == STATUSES.SUCCESS and job.queued.hget() is None
    assert "failed in before_record" in caplog.text and "observer broke" in caplog.text
    assert worker.connection.zcard(worker.running_key) == 0


# --- what subclasses and options may change


def test_a_subclass_narrowing_keys_in_update_keys_is_obeyed(clock):
    high = Job.add_job(identifier="high", queue_name="q", priority=5)
    low = Job.add_job(identifier="low", queue_name="q", priority=0)

    class HighOnly(Worker):
        def update_keys(self):
            super().update_keys()
            self.keys = self.keys[:1]  # the documented attribute the worker takes from

    HighOnly("q", callback=noop, max_loops=2, timeout=0.05, terminate_gracefuly=False, max_duration=60,
             observers=[_Ticking(clock, 30)]).run()  # two looks for a job, then the run is over
    assert high.status.hget() == STATUSES.SUCCESS
    assert low.status.hget() == STATUSES.WAITING


def test_options_are_final_once_the_worker_is_made(make_worker):
    """The parts are built from the options in ``__init__``: a subclass sets its own as class
    attributes (or passes them on to ``super().__init__``)."""
    job = Job.add_job(identifier="job:1", queue_name="other")

    class Retargeted(Worker):
        queues = ["other"]

    worker = Retargeted(callback=noop, max_loops=1, timeout=0.05, terminate_gracefuly=False)
    assert worker.fetcher.names == ["other"]
    worker.run()
    assert job.status.hget() == STATUSES.SUCCESS


def test_a_timeout_of_0_waits_with_no_limit(make_worker, redis_server, threads):
    Queue.get_queue("q")  # a worker waits for jobs once one of its queues exists
    worker = make_worker(callback=noop, max_loops=1, timeout=0, waiting=True)
    monitor_client = redis_server.client(decode_responses=True)

    def add_when_blocked():
        with monitor_client.monitor() as monitor:
            assert worker.waiting.wait(20)
            # its first wait may have begun before the monitor: a token of its own makes it wait again
            redis_server.client().rpush(worker.wakeup_key, "1")
            for command in monitor.listen():
                if command["command"].startswith("BLPOP"):
                    assert command["command"].endswith(" 0")  # no limit, as the seed says
                    break
        Job.add_job(identifier="job:1", queue_name="q")

    threads.start(add_when_blocked)
    worker.run()
    threads.join()
    assert worker.num_loops == 1


def test_a_pre_forked_child_holds_only_the_job_it_runs(make_worker, connection):
    class Counting(Worker):
        def job_success(self, job, queue, job_result):
            super().job_success(job, queue, job_result)
            job.get_connection().rpush("held", len(self.attempts))  # runs in the child

    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name="q")
    Counting("q", callback=noop, max_loops=3, timeout=0.05, terminate_gracefuly=False,
             execution_mode="prefork").run()
    assert connection.lrange("held", 0, -1) == ["1", "1", "1"]


def test_a_job_that_cannot_be_copied_runs_in_a_pre_forked_child(make_worker):
    class Locking(Worker):
        def get_job(self, job_ident):
            job = super().get_job(job_ident)
            job.lock = threading.Lock()  # an object of the application, not copyable
            return job

    job = Job.add_job(identifier="job:1", queue_name="q")
    Locking("q", callback=noop, max_loops=1, timeout=0.05, terminate_gracefuly=False,
            execution_mode="prefork").run()
    assert job.status.hget() == STATUSES.SUCCESS


def test_a_stop_during_an_outage_does_not_wait_for_redis(make_worker, redis_server, caplog):
    Job.add_job(identifier="job:1", queue_name="q")
    second = Job.add_job(identifier="job:2", queue_name="q")
    worker = make_worker(callback=noop)
    worker.update_keys()
    worker.run_one()  # job:1 ends, job:2 comes along with its end
    second.get_connection().save()
    redis_server.stop(keep_directory=True)
    try:
        worker.holdings.give_back_unstarted()  # one try, then it is left for recovery
    finally:
        redis_server.start_again()
    assert f"could not give back {second.ident}" in caplog.text
    assert second.status.hget() == STATUSES.RUNNING
    assert worker.connection.zrange(worker.running_key, 0, -1) == [second.ident]  # recovery will find it


@pytest.mark.parametrize("no_limit", [0, None, "0", "None"])
def test_max_loops_0_or_none_means_no_limit(make_worker, no_limit):
    for number in range(3):
        Job.add_job(identifier=f"job:{number}", queue_name="q")

    class StopWhenEmpty(WorkerObserver):
        def after_fetch(self, worker, attempt):
            if attempt is None:  # nothing left: the test ends the run
                worker.end_forced = True

    worker = make_worker(callback=noop, max_loops=no_limit, max_duration=0, observers=[StopWhenEmpty()])
    worker.run()
    assert worker.num_loops == 3 and worker.max_loops in (0, None)


def test_sighup_stops_after_the_current_job_like_sigterm():
    job = Job.add_job(identifier="job:1", queue_name="q")
    other = Job.add_job(identifier="job:2", queue_name="q")

    def hang_up(job, queue):
        os.kill(os.getpid(), signal.SIGHUP)

    worker = Worker("q", callback=hang_up, timeout=0.05)
    worker.run()
    assert worker.end_signal_caught and worker.num_loops == 1
    assert job.status.hget() == STATUSES.SUCCESS and other.status.hget() == STATUSES.WAITING
