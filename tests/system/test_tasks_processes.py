"""Tasks across processes and faults: worker processes started with --job-modules, get_result
from another process, a worker killed -9 while its task runs, lost replies of the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import task_samples as app
from helpers import TESTS_DIR, wait_until

from limpyd_jobs import get_result
from limpyd_jobs.models import Job
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.tasks import TaskJob
from limpyd_jobs.testing.proxy import script
from limpyd_jobs.workers import Worker


def worker_process(redis_server, *options):
    """``limpyd-jobs-worker`` in a process of its own, importing the tasks of task_samples."""
    return subprocess.Popen(
        [sys.executable, "-m", "limpyd_jobs.cli.worker", "--queues=default", "--job-modules=task_samples",
         f"--pythonpath={TESTS_DIR}", f"--database=127.0.0.1:{redis_server.port}:0", "--no-title",
         "--timeout=0.2", *options], stderr=subprocess.PIPE, text=True)


def pk_of(result):
    return result.id.rpartition(":")[2]


def events(result, name):
    return [event for event in Job.get_from_ident(result.id).events() if event["event"] == name]


def waited_for(result):
    """Ask for the task's end notice, as a waiter's ``wait()`` does first."""
    with pytest.raises(TimeoutError):
        result.wait(timeout=0)


def written_once(connection, result):
    """The end of a task (waited for) was written once: one success event, one entry in its
    success list, one token."""
    job = Job.get_from_ident(result.id)
    success = KEYS.queue_list(queue=job.queue_key.hget(), list="success")
    return (len(events(result, "succeeded")), connection.lrange(success, 0, -1).count(result.id),
            connection.llen(KEYS.field(model=TaskJob._name, pk=pk_of(result), field="ended"))) == (1, 1, 1)


def test_a_worker_process_runs_the_tasks_of_its_job_modules(redis_server, connection):
    results = [app.add.enqueue(1, 2), app.async_add.enqueue(3, 4), app.booms.enqueue(),
               app.echo.using(priority=3).enqueue("ü", n=2**53 + 1)]
    worker = worker_process(redis_server, "--burst")
    try:
        assert worker.wait(60) == 0, worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.stderr.close()
    read = [get_result(result.id) for result in results]
    assert [result.status for result in read] == ["SUCCESSFUL", "SUCCESSFUL", "FAILED", "SUCCESSFUL"]
    assert read[0].return_value == 3 and read[1].return_value == {"sum": 7, "loop": True}
    assert read[2].errors[0].exception_class_path == "task_samples.Boom"
    assert read[3].return_value == {"args": ["ü"], "kwargs": {"n": 2**53 + 1}}


def test_a_worker_process_refuses_a_task_name_rewritten_to_os_system(redis_server, connection, tmp_path):
    marker = tmp_path / "ran"
    result = app.add.enqueue(1, 2)
    connection.hset(KEYS.hash(model=TaskJob._name, pk=pk_of(result)), mapping={
        "task_name": "os.system", "arguments": json.dumps({"args": [f"touch {marker}"], "kwargs": {}})})
    worker = worker_process(redis_server, "--burst", "--requeue-times=3", "--requeue-delay-delta=0")
    try:
        worker.wait(60)
        output = worker.stderr.read()
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.stderr.close()
    read = get_result(result.id)
    assert not marker.exists()
    assert read.status == "FAILED" and read.attempts == 1
    assert read.errors[0].exception_class_path == "limpyd_jobs.tasks.exceptions.UnknownTask"
    assert "task 'os.system' is not registered in this worker" in output


def test_get_result_from_another_process(make_worker, redis_server):
    result = app.echo.enqueue([1, {"a": None}], text="日本")
    make_worker(queues="default", max_loops=1).run()
    code = ("import json, sys; from limpyd_jobs import get_result; r = get_result(sys.argv[1]); "
            "print(json.dumps([r.status, r.return_value, r.args, r.kwargs, r.attempts, r.task is None,"
            " r.task_name]))")
    done = subprocess.run([sys.executable, "-c", code, result.id], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "SUCCESSFUL", {"args": [[1, {"a": None}]], "kwargs": {"text": "日本"}}, [[1, {"a": None}]],
        {"text": "日本"}, 1, True, "task_samples.echo"]  # the task is not imported there: None
    missing = subprocess.run([sys.executable, "-c", code, result.id + "0"], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0"})
    assert missing.returncode == 1 and "TaskResultDoesNotExist" in missing.stderr


def test_a_task_whose_worker_is_killed_is_recovered_and_its_result_written_once(make_worker, redis_server,
                                                                               connection):
    result = app.waits_for_go.enqueue("k")
    waited_for(result)
    process = worker_process(redis_server)
    try:
        wait_until(lambda: connection.llen("started:k") == 1)
        [dead] = Worker.registered_workers()
        process.kill()  # SIGKILL while the task runs
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert get_result(result.id).status == "RUNNING"
    connection.zadd(KEYS.workers(), {dead.id: time.time() - 3600})  # its heartbeat stopped long ago
    connection.delete(KEYS.recovery_lock())  # its own look for lost jobs, at start, holds it a while
    connection.set("go", 1)
    worker = make_worker(queues="default", max_loops=1)
    worker.recover_lost_jobs()
    assert get_result(result.id).status == "READY"  # given back to its queue
    worker.run()
    read = get_result(result.id)
    assert read.status == "SUCCESSFUL" and read.return_value == "k"
    assert read.attempts == 2 and read.worker_ids == [dead.id, worker.id]
    assert connection.get("runs:k") == "1"  # the killed run never got to its end
    assert len(events(result, "recovered")) == 1 and written_once(connection, result)


@pytest.mark.parametrize(("end", "count", "options"), [
    ("finish", 1, {}),  # the last job of a run: a plain end
    ("finish_and_take", 2, {}),  # an end that takes the next job along
    ("finish_all_and_take", 6, {"prefetch": 4}),  # the ends of a batch
])
def test_a_lost_reply_of_the_end_writes_the_result_once(make_worker, proxy, redis_server, end, count,
                                                       options):
    direct = redis_server.client(decode_responses=True)
    results = [app.add.enqueue(number, 10) for number in range(count)]
    for result in results:
        waited_for(result)
    proxy.lose_reply(script(end))
    make_worker(queues="default", max_loops=count, **options).run()
    assert proxy.counts.lost == 1
    for number, result in enumerate(results):
        read = get_result(result.id)
        assert read.status == "SUCCESSFUL" and read.return_value == number + 10 and read.attempts == 1
        assert written_once(direct, result)
