"""Tasks: ``@task``, ``enqueue`` -> ``TaskResult``, run by real workers against a private Redis.

Every line of the API, JSON at the edges, failures, retries, delays, priorities, ``wait``, the
result's retention, and the costs (one round trip to enqueue, one per task while a queue is
not empty). Worker processes, kill -9 and lost replies are in tests/system/test_tasks_processes.py.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone

import pytest
import task_samples as app
from helpers import wait_until

from limpyd_jobs import STATUSES, Job, Queue, get_result
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.tasks import (
    InvalidTask,
    Task,
    TaskError,
    TaskJob,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultMismatch,
    TaskResultStatus,
    task,
)
from limpyd_jobs.tasks.backend import WAIT_SLICE
from limpyd_jobs.workers.observers import WorkerObserver


def run_tasks(make_worker, loops=1, queues="default", **options):
    """Run a worker in this process for ``loops`` jobs."""
    worker = make_worker(queues=queues, max_loops=loops, **options)
    worker.run()
    return worker


def job_of(result):
    return Job.get_from_ident(result.id)


def ended_key(result):
    """The list the end of a task pushes its token to."""
    return KEYS.field(model=TaskJob._name, pk=result.id.rpartition(":")[2], field="ended")


# --- the API, line by line


def test_enqueue_returns_a_ready_result_and_a_worker_runs_the_function(make_worker):
    result = app.add.enqueue(2, 3)
    assert isinstance(result, TaskResult) and isinstance(result.id, str)
    assert result.status == "READY" and result.status is TaskResultStatus.READY
    assert (result.args, result.kwargs, result.attempts) == ([2, 3], {}, 0)
    assert result.errors == [] and result.worker_ids == []
    assert result.enqueued_at is not None and result.enqueued_at.tzinfo is not None
    assert result.started_at is None and result.finished_at is None and result.last_attempted_at is None
    assert result.task is app.add and result.task_name == "task_samples.add"
    with pytest.raises(ValueError, match="not finished"):
        _ = result.return_value
    worker = run_tasks(make_worker)
    assert result.status == "READY"  # what was known when enqueued, until refreshed
    result.refresh()
    assert result.status == "SUCCESSFUL" and result.is_finished
    assert result.return_value == 5
    assert result.attempts == 1 and result.worker_ids == [worker.id] and result.errors == []
    assert result.enqueued_at <= result.started_at == result.last_attempted_at <= result.finished_at


def test_calling_the_task_calls_the_function_here(connection):
    assert app.add(2, 3) == 5
    assert app.add.call(2, 3) == 5
    assert app.async_add.call(1, 2) == {"sum": 3, "loop": True}
    assert connection.dbsize() == 0  # nothing was enqueued


def test_the_id_is_the_jobs_ident_and_the_job_holds_the_task(make_worker):
    result = app.echo.enqueue(1, "two", three=[3])
    job = job_of(result)
    assert isinstance(job, TaskJob) and job.ident == result.id
    assert job.task_name.hget() == "task_samples.echo"
    assert json.loads(job.arguments.hget()) == {"args": [1, "two"], "kwargs": {"three": [3]}}
    assert job.status.hget() == STATUSES.WAITING and job.queued.hget() == "1"
    run_tasks(make_worker)
    assert json.loads(job.result.hget()) == {"args": [1, "two"], "kwargs": {"three": [3]}}
    assert get_result(result.id).return_value == {"args": [1, "two"], "kwargs": {"three": [3]}}


def test_get_result_reads_any_result_and_refuses_unknown_ids(make_worker):
    result = app.add.enqueue(1, 1)
    assert get_result(result.id).status == "READY"
    assert app.add.get_result(result.id).args == [1, 1]
    with pytest.raises(TaskResultMismatch):
        app.echo.get_result(result.id)
    for unknown in (result.id.replace(":", ":9"), "limpyd_jobs.models.Job:1", "nothing", "", "os.system:1",
                    "no.such.Model:1", 42):
        with pytest.raises(TaskResultDoesNotExist):
            get_result(unknown)
    Job.add_job(identifier="plain", queue_name="q")  # a job that is not a task's
    with pytest.raises(TaskResultDoesNotExist):
        get_result("limpyd_jobs.models.Job:1")


def test_using_changes_priority_queue_and_run_after_for_the_next_enqueues(clock):
    other = app.add.using(priority=9, queue_name="x", run_after=timedelta(seconds=30))
    assert isinstance(other, Task) and other is not app.add and other.func is app.add.func
    assert (app.add.priority, app.add.queue_name, app.add.run_after) == (0, "default", None)
    job = job_of(other.enqueue(1, 2))
    assert job.priority.hget() == "9" and job.status.hget() == STATUSES.DELAYED
    queue = job.queue_model.get_queue("x", 9)
    assert queue.delayed.zrange(0, -1) == [job.ident]
    assert job.delayed_until.hget() == str(clock.now().replace(tzinfo=None) + timedelta(seconds=30))
    when = clock.now().astimezone(timezone(timedelta(hours=2))) + timedelta(hours=1)  # aware, any zone
    later = job_of(app.add.using(run_after=when).enqueue(3, 4))
    assert later.delayed_until.hget() == str((when - when.utcoffset()).replace(tzinfo=None))
    with pytest.raises(InvalidTask, match="naive"):
        app.add.using(run_after=datetime(2030, 1, 1))
    with pytest.raises(InvalidTask, match="priority"):
        app.add.using(priority=101)


def test_the_options_of_a_task_are_its_jobs(clock):
    job = job_of(app.configured.enqueue(1))
    assert job.queue_model.get_queue("emails", 5).waiting.lrange(0, -1) == [job.ident]
    assert job.hmget("priority", "timeout", "finished_ttl", "end_notice") == ["5", "30.0", "60", None]
    assert job_of(app.add.enqueue(1, 2)).finished_ttl.hget() == "86400"  # a day, by default
    settings = app.configured.retry_settings
    assert (settings.requeue_times, settings.requeue_delay_delta) == (2, 10)


def test_a_task_is_a_function_of_a_module():
    def nested():
        pass

    for bad in (nested, lambda: None, 42):
        with pytest.raises(InvalidTask):
            task(bad)
    with pytest.raises(InvalidTask):
        task(priority="high")(app.add.func)
    with pytest.raises(InvalidTask):
        task(queue_name="a,b")(app.add.func)
    with pytest.raises(InvalidTask):
        task(result_ttl=0)(app.add.func)
    with pytest.raises(InvalidTask):
        task(retries=-1)(app.add.func)


def test_a_task_of_the_main_script_is_refused_at_enqueue(connection):
    def main_function(a):
        return a

    main_function.__module__, main_function.__qualname__ = "__main__", "main_function"
    made = task(main_function)
    with pytest.raises(InvalidTask, match="__main__"):
        made.enqueue(1)
    assert connection.dbsize() == 0


# --- JSON


EDGES = [
    None, True, False, 0, -1, 2**53 + 1, -(2**63), 10**30, 0.1, -0.0, 1e308, "", "é", "日本語", "😀 emoji",
    "quote \" backslash \\ nul \x00 newline \n", [], {}, [None, [None, [1, {"a": [{}]}]]],
    {"nested": {"deeper": {"deepest": [1, 2.5, "three", None, True]}}}, {"": "empty key", "é": "ü"},
]


@pytest.mark.parametrize("value", EDGES, ids=[repr(value)[:30] for value in EDGES])
def test_json_values_go_there_and_back_the_same(make_worker, value):
    result = app.same.enqueue(value)
    assert result.args == [value]
    run_tasks(make_worker)
    read = get_result(result.id)
    assert read.args == [value] and read.return_value == value
    assert type(read.return_value) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, read.return_value) == math.copysign(1, value)


def test_the_result_holds_copies_of_the_arguments_not_the_callers_objects():
    given = {"nested": [1, {"deep": ["x"]}]}
    items = [given, 2.5]
    result = app.echo.enqueue(items, key=given)
    given["nested"][1]["deep"].append("changed after")
    items.append("more")
    assert result.args == [[{"nested": [1, {"deep": ["x"]}]}, 2.5]]
    assert result.kwargs == {"key": {"nested": [1, {"deep": ["x"]}]}}


def test_runs_of_a_task_get_distinct_short_identifiers():
    identifiers = {Job.get_from_ident(app.same.enqueue(number).id).identifier.hget() for number in range(50)}
    assert len(identifiers) == 50 and {len(identifier) for identifier in identifiers} == {16}


NOT_JSON = [
    (1, 2), {1, 2}, {1: "int key"}, {("a",): 1}, float("nan"), float("inf"), object(), b"bytes",
    datetime(2030, 1, 1), [1, (2, 3)], {"a": {"b": {2}}}, "\ud800 lone surrogate", {"a": 1, 1: "b"},
    {True: "bool key"}, TaskResultStatus.READY,
]


@pytest.mark.parametrize("value", NOT_JSON, ids=[repr(value)[:30] for value in NOT_JSON])
def test_what_is_not_json_is_refused_at_enqueue_and_nothing_is_written(connection, value):
    for enqueue in (lambda: app.same.enqueue(value), lambda: app.echo.enqueue(key=value)):
        with pytest.raises((TypeError, ValueError), match="JSON"):
            enqueue()
    assert connection.dbsize() == 0


def test_a_return_value_that_is_not_json_fails_the_task(make_worker):
    result = app.returns_a_set.enqueue()
    run_tasks(make_worker)
    result.refresh()
    assert result.status == "FAILED"
    assert result.errors[-1].exception_class_path == "builtins.TypeError"
    assert "JSON" in result.errors[-1].traceback
    with pytest.raises(ValueError, match="failed"):
        _ = result.return_value


# --- failures and retries


def test_a_failure_keeps_its_exception_path_and_traceback(make_worker):
    result = app.booms.enqueue()
    run_tasks(make_worker)
    result.refresh()
    assert result.status == "FAILED" and result.finished_at is not None
    [error] = result.errors
    assert isinstance(error, TaskError)
    assert error.exception_class_path == "task_samples.Boom"
    assert error.traceback.startswith("Traceback (most recent call last)")
    assert 'raise Boom("boom")' in error.traceback
    assert error.traceback.rstrip().endswith("task_samples.Boom: boom")
    other = app.fails.enqueue("a message")
    run_tasks(make_worker)
    assert get_result(other.id).errors[-1].exception_class_path == "builtins.ValueError"


def test_retries_run_the_task_again_until_it_succeeds(make_worker, connection):
    result = app.flaky.enqueue("runs", 2)  # retries=3, retry_delay=0
    worker = run_tasks(make_worker, loops=3, requeue_times=0, requeue_priority_delta=0)
    result.refresh()
    assert result.status == "SUCCESSFUL" and result.return_value == 3
    assert result.attempts == 3 and result.worker_ids == [worker.id] * 3
    assert [error.exception_class_path for error in result.errors] == ["builtins.RuntimeError"] * 2
    assert connection.get("runs") == "3"


def test_a_task_retried_later_is_ready_meanwhile(make_clocked_worker, clock):
    result = app.fails_then_waits.enqueue()  # retries=1, retry_delay=10
    make_clocked_worker(queues="default", max_loops=1, requeue_times=0).run()
    result.refresh()
    assert result.status == "READY" and result.attempts == 1 and len(result.errors) == 1
    job = job_of(result)
    assert job.status.hget() == STATUSES.DELAYED
    assert job.delayed_until.hget() == str(clock.now().replace(tzinfo=None) + timedelta(seconds=10))
    with pytest.raises(ValueError, match="not finished"):
        _ = result.return_value


def test_never_retry_and_the_workers_options_apply_to_tasks(make_worker, connection):
    result = app.never_for_key_errors.enqueue()  # retries=5, never for KeyError
    run_tasks(make_worker, loops=1)
    assert get_result(result.id).status == "FAILED" and connection.get("never-runs") == "1"
    other = app.fails.enqueue("x")  # no retries of its own: the worker's
    run_tasks(make_worker, loops=2, requeue_times=1, requeue_delay_delta=0)
    assert get_result(other.id).attempts == 2 and get_result(other.id).status == "FAILED"


# --- delays and priorities


def test_run_after_delays_the_task(make_clocked_worker, clock):
    result = app.add.using(run_after=timedelta(seconds=30)).enqueue(1, 2)
    make_clocked_worker(queues="default", burst=True).run()
    assert get_result(result.id).status == "READY"  # not due: the burst ends without it
    clock.advance(30)
    make_clocked_worker(queues="default", burst=True).run()
    assert get_result(result.id).return_value == 3


def test_higher_priorities_run_first(make_worker, connection):
    app.record.enqueue("low")
    app.record.using(priority=-5).enqueue("lowest")
    app.record.using(priority=9).enqueue("high")
    run_tasks(make_worker, loops=3)
    assert connection.lrange("order", 0, -1) == ["high", "low", "lowest"]


# --- dedup


def test_unique_tasks_and_identifiers_keep_one_queued_run(make_worker):
    first, again = app.unique_add.enqueue(1, 2), app.unique_add.enqueue(1, 2)
    other = app.unique_add.enqueue(2, 1)
    assert first.id == again.id != other.id
    keyed = app.add.using(identifier="sum:1").enqueue(1, 2)
    assert app.add.using(identifier="sum:1").enqueue(1, 2).id == keyed.id
    assert app.add.enqueue(1, 2).id != app.add.enqueue(1, 2).id  # a new run each time
    run_tasks(make_worker, loops=5)
    assert app.unique_add.enqueue(1, 2).id != first.id  # the first one ended: a new run
    assert get_result(first.id).return_value == 3


# --- waiting


class EndSeen(WorkerObserver):
    """Notes when the end of each job was about to be written (its waiters wake after that)."""

    def __init__(self):
        self.at: dict[str, float] = {}

    def before_record(self, worker, attempt, ending):
        self.at[attempt.ident] = time.monotonic()


def blocked_clients(connection, command="blmove"):
    return [client for client in connection.client_list() if client.get("cmd") == command]


def test_wait_is_woken_by_the_end_of_the_task(make_worker, connection, threads, round_trips):
    result = app.add.enqueue(20, 22)
    returned = {}

    def waiter():
        returned["result"] = get_result(result.id).wait(timeout=30)
        returned["at"] = time.monotonic()

    with round_trips() as trips:
        threads.start(waiter)
        wait_until(lambda: blocked_clients(connection), 10, "wait() blocking in Redis, on the task's token")
        seen = EndSeen()
        run_tasks(make_worker, observers=[seen])
        threads.join()
    ended = seen.at[result.id]
    assert returned["result"].status == "SUCCESSFUL" and returned["result"].return_value == 42
    assert ended <= returned["at"] < ended + WAIT_SLICE / 2  # woken by the end, not by its slice
    assert trips.commands.count("BLMOVE") == 1  # no polling: one blocking wait
    assert connection.llen(ended_key(result)) == 1


def test_wait_returns_at_once_for_an_ended_task_and_times_out_otherwise(make_worker, round_trips):
    done = app.add.enqueue(1, 1)
    run_tasks(make_worker)
    assert done.wait(timeout=0).return_value == 2
    assert done.status == "SUCCESSFUL"  # wait refreshed it
    waiting = app.add.enqueue(2, 2)
    with pytest.raises(TimeoutError):
        waiting.wait(timeout=0.05)
    assert waiting.status == "READY"


def test_several_waiters_are_all_woken(make_worker, connection, threads):
    result = app.add.enqueue(1, 2)
    values = []
    for _ in range(3):
        threads.start(lambda: values.append(get_result(result.id).wait(timeout=30).return_value))
    wait_until(lambda: len(blocked_clients(connection)) == 3, 10, "the three waiters blocking in Redis")
    run_tasks(make_worker)
    threads.join()
    assert values == [3, 3, 3]


def test_a_failed_task_wakes_its_waiter_only_once_it_is_not_retried(make_worker, connection):
    result = app.flaky.enqueue("counter", 1)  # fails once, retried at once
    key = ended_key(result)
    with pytest.raises(TimeoutError):
        result.wait(timeout=0)  # a waiter: the end's notice is asked for
    run_tasks(make_worker, loops=1, requeue_priority_delta=0)
    assert connection.llen(key) == 0  # requeued: not its end
    run_tasks(make_worker, loops=1, requeue_priority_delta=0)
    assert connection.llen(key) == 1 and result.wait(timeout=1).return_value == 2
    assert 0 < connection.ttl(key) <= 60


def test_a_final_failure_wakes_its_waiter_once_its_error_is_saved(make_worker, connection, threads):
    result = app.booms.enqueue()
    seen = []
    threads.start(lambda: seen.append(get_result(result.id).wait(timeout=30)))
    wait_until(lambda: blocked_clients(connection), 10, "the waiter blocking in Redis")
    run_tasks(make_worker)
    threads.join()
    [read] = seen
    assert read.status == "FAILED" and [error.exception_class_path for error in read.errors] == [
        "task_samples.Boom"]
    assert connection.llen(ended_key(result)) == 1


def test_a_task_past_its_timeout_fails_and_wakes_its_waiter(make_worker, connection):
    result = app.sleeps.enqueue()  # timeout=0.2, killed by a worker that runs it in a child
    run_tasks(make_worker, execution_mode="fork", timeout_grace=0.1)
    read = result.wait(timeout=0)
    assert read.status == "FAILED"
    assert read.errors[-1].exception_class_path == "limpyd_jobs.exceptions.JobTimeout"
    assert connection.llen(ended_key(result)) == 1


# --- async


def test_an_async_task_runs_on_an_event_loop(make_worker):
    result = app.async_add.enqueue(40, 2)
    run_tasks(make_worker)
    assert get_result(result.id).return_value == {"sum": 42, "loop": True}


# --- what Redis holds never decides what runs


@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "task_samples.redis", "subprocess.run"])
def test_a_task_name_rewritten_in_redis_is_refused_not_run(make_worker, connection, tmp_path, name):
    marker = tmp_path / "ran"
    result = app.add.enqueue(1, 2)
    job = job_of(result)
    connection.hset(job.key, mapping={"task_name": name,
                                      "arguments": json.dumps({"args": [f"touch {marker}"], "kwargs": {}})})
    run_tasks(make_worker, loops=2, requeue_times=3, requeue_delay_delta=0, burst=True)
    read = get_result(result.id)
    assert not marker.exists()
    assert read.status == "FAILED" and read.attempts == 1  # not retried
    assert read.errors[-1].exception_class_path == "limpyd_jobs.tasks.exceptions.UnknownTask"
    assert f"task {name!r} is not registered in this worker" in read.errors[-1].traceback
    assert read.task is None


def test_arguments_rewritten_in_redis_fail_the_task_with_a_clear_reason(make_worker, connection):
    result = app.add.enqueue(1, 2)
    connection.hset(job_of(result).key, "arguments", "[not, json")
    run_tasks(make_worker, loops=1, requeue_times=3)
    read = get_result(result.id)
    assert read.status == "FAILED"
    assert read.errors[-1].exception_class_path == "limpyd_jobs.tasks.exceptions.InvalidTaskData"


# --- workers: beside identifier jobs, with a callback, with prefetch


def test_a_worker_with_a_callback_runs_identifier_jobs_with_it_and_tasks_with_their_function(make_worker):
    called = []
    job = Job.add_job(identifier="plain:1", queue_name="default")
    result = app.add.enqueue(2, 2)
    run_tasks(make_worker, loops=2, callback=lambda job, queue: called.append(job.identifier.hget()))
    assert called == ["plain:1"]
    assert job.status.hget() == STATUSES.SUCCESS and get_result(result.id).return_value == 4


@pytest.mark.parametrize("mode", ["fork", "prefork"])
def test_tasks_run_in_forked_modes(make_worker, mode):
    results = [app.add.enqueue(number, 1) for number in range(3)]
    run_tasks(make_worker, loops=3, execution_mode=mode)
    assert [get_result(result.id).return_value for result in results] == [1, 2, 3]


def test_prefetch_runs_tasks_and_writes_their_results(make_worker, connection):
    results = [app.add.enqueue(number, number) for number in range(10)]
    for result in results[::2]:
        with pytest.raises(TimeoutError):
            result.wait(timeout=0)  # waited for: their ends push a notice
    run_tasks(make_worker, loops=10, prefetch=4)
    assert [get_result(result.id).return_value for result in results] == [2 * n for n in range(10)]
    assert [connection.llen(ended_key(result)) for result in results] == [1, 0] * 5


def test_a_task_nobody_waits_for_ends_without_a_notice(make_worker, connection):
    result = app.add.enqueue(1, 2)
    run_tasks(make_worker)
    assert get_result(result.id).return_value == 3
    assert not connection.exists(ended_key(result))  # no push, no key to expire


# --- costs


def test_enqueue_is_one_round_trip(round_trips):
    app.add.enqueue(0, 0)  # the first one loads the script and registers the model
    with round_trips() as trips:
        app.add.enqueue(1, 2)
        app.configured.using(run_after=timedelta(seconds=5)).enqueue("x")
    assert trips.commands == ["EVALSHA", "EVALSHA"]


def test_a_task_costs_one_round_trip_while_the_queue_is_not_empty(make_worker, round_trips):
    results = [app.echo.enqueue(number, key=str(number)) for number in range(4)]
    worker = make_worker("default")
    worker.update_keys()
    worker.run_one()  # the first pass also runs the periodic maintenance and a plain fetch
    with round_trips() as trips:
        assert worker.run_one() and worker.run_one()
    assert trips.commands == ["EVALSHA", "EVALSHA"]  # the take returned the arguments
    assert get_result(results[1].id).return_value == {"args": [1], "kwargs": {"key": "1"}}


def test_prefetch_keeps_one_round_trip_per_batch_for_tasks(make_worker, round_trips):
    for number in range(12):
        app.add.enqueue(number, 0)
    worker = make_worker("default", prefetch=4, max_loops=0)
    worker.update_keys()
    worker.maintenance.run_due()
    for _ in range(4):
        assert worker.run_one()
    with round_trips() as trips:
        for _ in range(8):
            assert worker.run_one()
    assert trips.commands == ["EVALSHA", "EVALSHA"], trips.commands
    assert len(TaskJob.collection(status=STATUSES.SUCCESS)) == 12


# --- retention


def test_a_result_is_kept_result_ttl_seconds_then_deleted_with_its_job(make_clocked_worker, clock,
                                                                       connection):
    kept = app.configured.enqueue("kept")  # result_ttl=60
    worker = make_clocked_worker(queues="emails", max_loops=1, keep_finished=10000)
    worker.run()
    clock.advance(59)
    worker.upkeep.purge_finished_jobs()
    assert get_result(kept.id).return_value == "kept"
    clock.advance(2)
    worker.upkeep.purge_finished_jobs()
    with pytest.raises(TaskResultDoesNotExist):
        get_result(kept.id)
    assert not connection.exists(job_of_key(kept)) and TaskJob.collection().__len__() == 0


def test_a_failed_task_is_kept_as_long_and_keep_finished_still_bounds_the_lists(make_clocked_worker, clock):
    failed = app.booms.enqueue()
    results = [app.add.enqueue(n, 0) for n in range(3)]
    worker = make_clocked_worker(queues="default", max_loops=4, keep_finished=1)
    worker.run()
    worker.upkeep.purge_finished_jobs()  # one kept per list, whatever its result_ttl
    assert get_result(results[-1].id).return_value == 2
    for result in results[:-1]:
        with pytest.raises(TaskResultDoesNotExist):
            get_result(result.id)
    assert get_result(failed.id).status == "FAILED"
    clock.advance(24 * 3600 + 1)
    worker.upkeep.purge_finished_jobs()
    with pytest.raises(TaskResultDoesNotExist):
        get_result(failed.id)


def test_results_past_their_ttl_go_in_bounded_slices_when_no_other_limit_applies(make_clocked_worker, clock):
    results = [app.configured.enqueue(number) for number in range(150)]  # result_ttl=60
    make_clocked_worker(queues="emails", max_loops=150, purge_delay=0).run()
    queue = Queue.get_queue("emails", priority=5)  # the task's priority
    assert queue.purge_finished_slice(keep=10000, max_entries=1000) == (0, False)  # none is 60 s old
    clock.advance(61)
    # nothing beyond keep, no cut-off: a purge reads 100 entries at most, and says more may be due
    assert queue.purge_finished_slice(keep=10000, max_entries=1000) == (100, True)
    assert queue.purge_finished_slice(keep=10000, max_entries=1000) == (50, False)
    assert queue.success.llen() == 0 and len(TaskJob.collection()) == 0
    with pytest.raises(TaskResultDoesNotExist):
        get_result(results[-1].id)


def job_of_key(result):
    return KEYS.hash(model=TaskJob._name, pk=result.id.rpartition(":")[2])


def test_a_worker_finished_ttl_still_applies_to_other_jobs(make_clocked_worker, clock):
    plain = Job.add_job(identifier="plain", queue_name="default")
    result = app.add.enqueue(1, 1)
    worker = make_clocked_worker(queues="default", max_loops=2, callback=lambda job, queue: None,
                                 finished_ttl=10)
    worker.run()
    clock.advance(11)
    worker.upkeep.purge_finished_jobs()
    assert not Job.exists(pk=plain.pk.get())  # the worker's limit
    assert get_result(result.id).return_value == 2  # its own: a day


# --- the commands see tasks as jobs


def test_limpyd_jobs_show_takes_a_result_id_and_shows_the_task(make_worker, capsys):
    from limpyd_jobs.cli.admin import main

    result = app.echo.enqueue("é", n=1)
    run_tasks(make_worker)
    assert main(["show", result.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ident"] == result.id and shown["status"] == "SUCCESS"
    assert shown["fields"]["task_name"] == "task_samples.echo"
    assert json.loads(shown["fields"]["arguments"]) == {"args": ["é"], "kwargs": {"n": 1}}
    assert json.loads(shown["fields"]["result"]) == {"args": ["é"], "kwargs": {"n": 1}}


def test_the_dashboard_shows_a_task_with_its_arguments_result_and_error(make_worker):
    from markupsafe import escape

    from limpyd_jobs.dashboard import create_app

    done, failed = app.echo.enqueue("<b>", n=1), app.booms.enqueue()
    run_tasks(make_worker, loops=2)
    client = create_app(secret_key="tests").test_client()
    page = client.get(f"/jobs/{done.id}").get_data(as_text=True)
    assert "task_samples.echo" in page
    for name in ("arguments", "result"):
        assert f"<th>{name}</th>" in page and str(escape(job_of(done).get_field(name).hget())) in page
    page = client.get(f"/jobs/{failed.id}").get_data(as_text=True)
    assert "task_samples.booms" in page and "task_samples.Boom: boom" in page
