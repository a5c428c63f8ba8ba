"""Django's task framework on LimpydJobsBackend: a real project (tests/django_tasks_project,
SQLite), our private Redis, ``manage.py limpyd_jobs_worker`` as a subprocess.

Django runs in subprocesses only (``manage.py shell -c`` printing JSON), so its settings never
reach the other tests. Every worker is bounded (``--max-loops``, ``--max-duration``, a timeout).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("django")
try:
    import django.tasks  # noqa: F401
except ImportError:
    pytest.importorskip("django_tasks")

from helpers import ROOT  # noqa: E402

from limpyd_jobs import STATUSES  # noqa: E402
from limpyd_jobs.models import Error, Job  # noqa: E402
from limpyd_jobs.protocol import KEYS  # noqa: E402
from limpyd_jobs.workers import Worker  # noqa: E402

PROJECT = Path(__file__).resolve().parent / "django_tasks_project"
EXAMPLE = ROOT / "examples" / "django"
BOUNDED = ["--timeout=0.2", "--max-duration=30", "--no-title"]
RUN_TIMEOUT = 60
#: What every shell snippet starts with.
PRELUDE = """
import json
from datetime import timedelta
from django.db import transaction
from django.utils import timezone
from shop import tasks
from limpyd_jobs.contrib.django.tasks import DjangoTaskJob
try:
    from django.tasks import default_task_backend, task_backends
    from django.tasks.exceptions import TaskResultDoesNotExist
except ImportError:
    from django_tasks import default_task_backend, task_backends
    from django_tasks.exceptions import TaskResultDoesNotExist

def out(**values):
    print(json.dumps(values, default=str))

def described(result):
    return {"id": result.id, "status": str(result.status), "attempts": result.attempts,
            "worker_ids": result.worker_ids, "args": result.args, "kwargs": result.kwargs,
            "errors": [[e.exception_class_path, e.traceback] for e in result.errors],
            "return_value": result.return_value if result.status == "SUCCESSFUL" else None,
            "enqueued_at": result.enqueued_at, "started_at": result.started_at,
            "finished_at": result.finished_at, "last_attempted_at": result.last_attempted_at,
            "backend": result.backend, "task": result.task.module_path}
"""


class Project:
    """A Django project run in subprocesses, against a SQLite file of its own and our Redis."""

    def __init__(self, tmp_path: Path, redis_url: str, directory: Path = PROJECT) -> None:
        self.directory = directory
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
        self.env.update(TASKS_SQLITE_PATH=str(tmp_path / "tasks.sqlite3"), REDIS_URL=redis_url,
                        PHOTOS_SQLITE_PATH=str(tmp_path / "photos.sqlite3"))

    def manage(self, *arguments: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "manage.py", *arguments], cwd=self.directory, env=self.env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        if expect is not None:
            assert done.returncode == expect, f"{arguments}: {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def shell(self, code: str, prelude: str = PRELUDE) -> dict:
        """Run ``code`` in ``manage.py shell``; the last line it prints is a JSON object, returned."""
        done = self.manage("shell", "-c", prelude + textwrap.dedent(code))
        return json.loads(done.stdout.strip().splitlines()[-1])

    def use_settings(self, directory: Path, module: str) -> None:
        """Run with the settings module ``module``, found in ``directory``."""
        python_path = [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.env.update(DJANGO_SETTINGS_MODULE=module, PYTHONPATH=os.pathsep.join(python_path))

    def worker(self, *arguments: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        return self.manage("limpyd_jobs_worker", *BOUNDED, *arguments, expect=expect)

    def result(self, result_id: str) -> dict:
        return self.shell(f"out(**described(default_task_backend.get_result({result_id!r})))")


@pytest.fixture
def project(tmp_path, redis_server):
    assert redis_server.port != 6379
    return Project(tmp_path, redis_server.url)


def job_of(result_id: str) -> Job:
    return Job.get_from_ident(result_id)


# --- enqueue, the worker, get_result from another process

def test_enqueue_returns_a_ready_result_and_the_worker_runs_it(project):
    enqueued = project.shell("""
        result = tasks.add.enqueue(2, b=3)
        out(**described(result), supports=[default_task_backend.supports_defer,
            default_task_backend.supports_async_task, default_task_backend.supports_get_result,
            default_task_backend.supports_priority])
    """)
    assert enqueued["supports"] == [True, True, True, True]
    assert enqueued["status"] == "READY"
    assert enqueued["args"] == [2] and enqueued["kwargs"] == {"b": 3}
    assert enqueued["enqueued_at"] is not None and enqueued["started_at"] is None
    assert enqueued["backend"] == "default" and enqueued["task"] == "shop.tasks.add"
    assert job_of(enqueued["id"]).status.hget() == STATUSES.WAITING

    done = project.worker("--max-loops=1")  # queues: the backend's QUEUES

    assert "shop.tasks.add" in done.stderr  # the tasks the worker found, logged at start
    result = project.result(enqueued["id"])  # another process
    assert result["status"] == "SUCCESSFUL"
    assert result["return_value"] == 5
    assert result["attempts"] == 1 and len(result["worker_ids"]) == 1
    assert result["enqueued_at"] <= result["started_at"] <= result["finished_at"]
    assert result["last_attempted_at"] == result["started_at"]
    assert result["errors"] == []


def test_a_run_costs_its_take_and_end_and_two_reads_of_its_result(project, round_trips):
    counted = {}
    for count in (1, 11):
        project.shell(f"[tasks.add.enqueue(i, 1) for i in range({count})]\nout()")
        with round_trips() as trips:
            project.worker(f"--max-loops={count}")
        counted[count] = collections.Counter(trips.commands)
    per_ten = counted[11] - counted[1]  # what ten runs more cost, the worker's start and end apart
    # take and end in scripts (an end goes with the next take); the TaskResult of the signals and
    # the context read at the start and at the end, each a pipeline of three reads
    # (a script first used in the longer run is loaded once: SCRIPT LOAD)
    assert set(per_ten) <= {"EVALSHA", "SCRIPT", "HGETALL", "LRANGE", "SINTER"}
    assert per_ten["EVALSHA"] <= 12 and per_ten["SCRIPT"] <= 2
    assert per_ten["HGETALL"] == per_ten["LRANGE"] == per_ten["SINTER"] == 20


def test_unknown_ids_raise_task_result_does_not_exist(project):
    seen = project.shell("""
        raised = []
        for result_id in ("nothing", "shop.tasks.add", DjangoTaskJob.get_model_repr() + ":999",
                          "limpyd_jobs.tasks.models.TaskJob:1", 12):
            try:
                default_task_backend.get_result(result_id)
            except TaskResultDoesNotExist:
                raised.append(True)
        out(raised=raised)
    """)
    assert seen == {"raised": [True] * 5}


def test_aenqueue_and_aget_result_and_an_async_task(project):
    enqueued = project.shell("""
        import asyncio

        async def main():
            result = await tasks.async_add.aenqueue(20, 22)
            again = await default_task_backend.aget_result(result.id)
            return result, again

        result, again = asyncio.run(main())
        out(id=result.id, status=str(result.status), again=str(again.status))
    """)
    assert enqueued["status"] == enqueued["again"] == "READY"

    project.worker("--max-loops=1")

    result = project.result(enqueued["id"])
    assert result["status"] == "SUCCESSFUL" and result["return_value"] == 42


def test_a_failure_gives_a_task_error_with_its_class_path_and_traceback(project):
    enqueued = project.shell("out(id=tasks.fail.enqueue('boom').id)")

    project.worker("--max-loops=1", "--requeue-times=0")

    result = project.result(enqueued["id"])
    assert result["status"] == "FAILED"
    ((path, trace),) = result["errors"]
    assert path == "builtins.KeyError"
    assert "Traceback (most recent call last)" in trace and "raise KeyError(message)" in trace
    assert result["finished_at"] is not None


def test_takes_context_and_attempts_through_retries(project):
    enqueued = project.shell("out(id=tasks.flaky.enqueue(fails=2).id)")

    project.worker("--max-loops=3", "--requeue-times=2", "--requeue-delay-delta=0")

    result = project.result(enqueued["id"])
    assert result["status"] == "SUCCESSFUL"
    assert result["return_value"] == {"attempt": 3, "id": enqueued["id"], "worker_ids": 3}
    assert result["attempts"] == 3
    assert [path for path, _ in result["errors"]] == ["builtins.RuntimeError"] * 2


def test_retries_of_the_task_class_and_of_options(project):
    # @task(retries=2, retry_delay=0): the worker's own --requeue-times=0 does not apply
    enqueued = project.shell("out(id=tasks.flaky_with_retries.enqueue('tries:a').id)")
    project.worker("--max-loops=3", "--requeue-times=0")
    assert project.result(enqueued["id"])["return_value"] == "third time"

    # OPTIONS, for every task of the backend: 1 retry, at once
    project.env["TASKS_OPTIONS"] = json.dumps({"retries": 1, "retry_delay": 0})
    enqueued = project.shell("out(id=tasks.flaky.enqueue(fails=1).id, other=tasks.flaky.enqueue(fails=5).id)")
    project.worker("--max-loops=4", "--requeue-times=0")
    assert project.result(enqueued["id"])["return_value"]["attempt"] == 2
    other = project.result(enqueued["other"])
    assert other["status"] == "FAILED" and other["attempts"] == 2


def test_options_per_task_timeout_result_ttl_and_unique(project):
    project.env["TASKS_OPTIONS"] = json.dumps({"result_ttl": 60, "tasks": {
        "shop.tasks.add": {"unique": True, "timeout": 7, "result_ttl": 30}}})
    enqueued = project.shell("""
        first, second = tasks.add.enqueue(1, 2), tasks.add.enqueue(1, 2)
        other = tasks.record.enqueue("x")
        out(first=first.id, second=second.id, other=other.id)
    """)
    assert enqueued["first"] == enqueued["second"]  # unique: one queued run per arguments
    job = job_of(enqueued["first"])
    assert (float(job.timeout.hget()), job.finished_ttl.hget()) == (7, "30")
    assert job_of(enqueued["other"]).finished_ttl.hget() == "60"


def test_bad_options_are_clear_errors(project):
    project.env["TASKS_OPTIONS"] = json.dumps({"retry": 3})
    done = project.manage("shell", "-c", "from shop import tasks", expect=None)
    assert done.returncode != 0 and "unknown keys ['retry']" in done.stderr
    project.env["TASKS_OPTIONS"] = json.dumps({"retries": -1})
    done = project.manage("shell", "-c", "from shop import tasks", expect=None)
    assert done.returncode != 0 and "retries is a number of at least 0" in done.stderr


def test_arguments_that_are_not_json_are_refused_and_nothing_written(project):
    seen = project.shell("""
        errors = []
        for value in (object(), {1: "int key"}, float("nan")):
            try:
                tasks.add.enqueue(value, 1)
            except (TypeError, ValueError) as exc:
                errors.append(type(exc).__name__)
        out(errors=errors)
    """)
    assert seen == {"errors": ["TypeError", "TypeError", "ValueError"]}
    assert list(Job.collection()) == []


# --- priorities and deferral

def test_priorities_run_higher_first(project):
    project.shell("""
        for priority in (-100, 0, 100, -5, 42):
            tasks.record.using(priority=priority).enqueue(str(priority))
        out()
    """)
    project.worker("--max-loops=5")
    order = Job.get_connection().lrange("tests:order", 0, -1)
    assert order == ["100", "42", "0", "-5", "-100"]


def test_run_after_a_datetime_or_a_timedelta_runs_it_then(project):
    enqueued = project.shell("""
        at = timezone.now() + timedelta(seconds=1)
        by_date = tasks.add.using(run_after=at).enqueue(1, 1)
        by_delta = tasks.add.using(run_after=timedelta(seconds=1)).enqueue(2, 2)
        now = tasks.add.enqueue(3, 3)
        out(by_date=by_date.id, by_delta=by_delta.id, now=now.id, at=at.isoformat(),
            enqueued=by_delta.enqueued_at.isoformat())
    """)
    assert job_of(enqueued["by_date"]).status.hget() == STATUSES.DELAYED
    assert job_of(enqueued["by_delta"]).status.hget() == STATUSES.DELAYED
    assert project.result(enqueued["by_date"])["status"] == "READY"

    project.worker("--max-loops=3")

    by_date, by_delta, now = (project.result(enqueued[name]) for name in ("by_date", "by_delta", "now"))
    assert all(result["status"] == "SUCCESSFUL" for result in (by_date, by_delta, now))
    assert now["started_at"] < by_date["started_at"]
    assert by_date["started_at"] >= enqueued["at"].replace("T", " ")
    assert by_delta["started_at"] >= enqueued["enqueued"].replace("T", " ")


def test_invalid_tasks_are_refused(project):
    seen = project.shell("""
        from limpyd_jobs.contrib.django.compat import InvalidTask
        refused = []
        for change in ({"priority": 101}, {"queue_name": "unknown"}, {"run_after": timedelta(seconds=-1)},
                       {"run_after": timezone.now().replace(tzinfo=None)}):
            try:
                tasks.add.using(**change)
            except InvalidTask as exc:
                refused.append(str(exc))
        out(refused=refused)
    """)
    assert len(seen["refused"]) == 4


# --- the worker: only the tasks it imported, --job-modules, signals, connections

def test_a_task_name_or_arguments_rewritten_in_redis_are_not_run(project):
    enqueued = project.shell("out(name=tasks.record.enqueue('x').id, arguments=tasks.record.enqueue('y').id)")
    job_of(enqueued["name"]).task_name.hset("os.system")
    job_of(enqueued["arguments"]).arguments.hset('["rm -rf /"]')

    project.worker("--max-loops=2", "--requeue-times=3")

    for name, error in (("name", "UnknownTask"), ("arguments", "InvalidTaskData")):
        job = job_of(enqueued[name])
        assert job.status.hget() == STATUSES.ERROR
        assert job.queued.hget() is None  # never retried
        (saved,) = Error.collection(job_pk=job.pk.get()).instances()
        assert saved.type.hget() == error
    assert Job.get_connection().llen("tests:order") == 0  # neither ran


def test_job_modules_add_tasks_of_other_modules(project):
    enqueued = project.shell("""
        from shop import extra_tasks
        out(id=extra_tasks.multiply.enqueue(6, 7).id)
    """)
    project.worker("--max-loops=1")  # shop.extra_tasks is not an app's tasks module: not run
    assert job_of(enqueued["id"]).status.hget() == STATUSES.ERROR

    enqueued = project.shell("""
        from shop import extra_tasks
        out(id=extra_tasks.multiply.enqueue(6, 7).id)
    """)
    project.worker("--max-loops=1", "--job-modules=shop.extra_tasks")
    # read where the module is imported (a web process imports the apps' tasks modules only)
    result = project.shell(f"""
        from shop import extra_tasks
        out(**described(default_task_backend.get_result({enqueued['id']!r})))
    """)
    assert result["return_value"] == 42


def test_the_worker_sends_the_signals_and_closes_connections(project, tmp_path):
    signals_log = tmp_path / "signals.jsonl"
    (tmp_path / "signal_settings.py").write_text(textwrap.dedent("""
        from tasksite.settings import *  # noqa: F403
        INSTALLED_APPS = [*INSTALLED_APPS, "signal_app"]  # noqa: F405
    """))
    (tmp_path / "signal_app.py").write_text(textwrap.dedent(f"""
        import json
        from django.db import connection
        from limpyd_jobs.contrib.django.compat import task_enqueued, task_finished, task_started

        def log(name):
            def receiver(sender, task_result, **kwargs):
                with open({str(signals_log)!r}, "a") as file:
                    file.write(json.dumps([name, sender.__name__, task_result.id, str(task_result.status),
                                           connection.connection is not None]) + "\\n")
            return receiver

        for signal, name in ((task_enqueued, "enqueued"), (task_started, "started"),
                             (task_finished, "finished")):
            signal.connect(log(name), weak=False)
    """))
    project.use_settings(tmp_path, "signal_settings")
    enqueued = project.shell("out(ok=tasks.send.enqueue('a@b.c').id, ko=tasks.fail.enqueue('x').id, "
                             "retried=tasks.flaky_with_retries.enqueue('tries:s').id)")

    project.worker("--max-loops=5", "--requeue-times=0")

    events = [json.loads(line) for line in signals_log.read_text().splitlines()]
    ok, ko = enqueued["ok"], enqueued["ko"]
    assert {event[0] for event in events if event[1] != "LimpydJobsBackend"} == set()
    assert [[event[0], event[3]] for event in events if event[2] == ok] == [
        ["enqueued", "READY"], ["started", "RUNNING"], ["finished", "SUCCESSFUL"]]
    assert [[event[0], event[3]] for event in events if event[2] == ko] == [
        ["enqueued", "READY"], ["started", "RUNNING"], ["finished", "FAILED"]]
    # failed twice, retried: finished once, at its end
    assert [[event[0], event[3]] for event in events if event[2] == enqueued["retried"]] == [
        ["enqueued", "READY"], *[["started", "RUNNING"]] * 3, ["finished", "SUCCESSFUL"]]
    # the task opened a database connection (send reads the tables); closed after it, as after a request
    assert [event[4] for event in events if event[2] == ok and event[0] == "finished"] == [False]
    assert project.result(ok)["return_value"]["tables"] is True


def test_a_task_whose_worker_is_killed_is_run_again_by_another(project, connection):
    enqueued = project.shell("out(id=tasks.waits_for_go.enqueue('k').id)")
    process = subprocess.Popen([sys.executable, "manage.py", "limpyd_jobs_worker", *BOUNDED],
                               cwd=project.directory, env=project.env, stderr=subprocess.DEVNULL)
    try:
        assert connection.blpop("started:k", timeout=RUN_TIMEOUT) is not None
        [dead] = Worker.registered_workers()
        process.kill()  # SIGKILL while the task runs
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    assert project.result(enqueued["id"])["status"] == "RUNNING"
    connection.zadd(KEYS.workers(), {dead.id: time.time() - 3600})  # its heartbeat stopped long ago
    connection.delete(KEYS.recovery_lock())  # the dead worker's own look for lost jobs holds it a while
    connection.rpush("go", 1)

    project.worker("--max-loops=1")  # looks for lost jobs at start: gives the task back, runs it

    result = project.result(enqueued["id"])
    assert result["status"] == "SUCCESSFUL" and result["return_value"] == "k"
    assert result["attempts"] == 2 and result["worker_ids"][0] == dead.id
    assert connection.get("runs:k") == "1"  # the killed run never got to its end


# --- enqueue on commit

def test_enqueue_on_commit_enqueues_at_the_commit_and_never_on_rollback(project):
    project.env["TASKS_OPTIONS"] = json.dumps({"enqueue_on_commit": True})
    seen = project.shell("""
        class Rollback(Exception):
            pass

        try:
            with transaction.atomic():
                rolled_back = tasks.add.enqueue(1, 1)
                raise Rollback
        except Rollback:
            pass
        with transaction.atomic():
            committed = tasks.add.enqueue(2, 2)
            before = {"id": committed.id, "status": str(committed.status),
                      "jobs": len(list(DjangoTaskJob.collection()))}
            try:
                default_task_backend.get_result(committed.id)
            except TaskResultDoesNotExist:
                before["get_result"] = "does not exist"
        try:
            default_task_backend.get_result(rolled_back.id)
        except TaskResultDoesNotExist:
            rolled_back_found = False
        outside = tasks.add.enqueue(3, 3)  # no transaction: at once
        out(before=before, after=committed.id, status=str(committed.refresh() or committed.status),
            rolled_back=rolled_back_found, outside=outside.id)
    """)
    assert seen["before"]["status"] == "READY"
    assert seen["before"]["id"].startswith("pending-commit:")
    assert seen["before"]["jobs"] == 0 and seen["before"]["get_result"] == "does not exist"
    assert seen["after"] != seen["before"]["id"] and seen["status"] == "READY"
    assert seen["rolled_back"] is False
    assert len(list(Job.collection())) == 0  # Job: none of the base model; task jobs below
    from limpyd_jobs.contrib.django.tasks import DjangoTaskJob
    assert sorted(DjangoTaskJob.collection()) == sorted(
        [seen["after"].rpartition(":")[2], seen["outside"].rpartition(":")[2]])


def test_enqueue_on_commit_follows_the_database_alias_it_names(project):
    project.env["TASKS_OPTIONS"] = json.dumps({"enqueue_on_commit": "other"})
    seen = project.shell("""
        with transaction.atomic():  # default: not the database the option names
            at_once = tasks.add.enqueue(1, 1)
            in_default = len(list(DjangoTaskJob.collection()))
        with transaction.atomic(using="other"):
            deferred = tasks.add.enqueue(2, 2)
            in_other = len(list(DjangoTaskJob.collection()))
        out(in_default=in_default, in_other=in_other, deferred=deferred.id,
            after=len(list(DjangoTaskJob.collection())))
    """)
    assert seen["in_default"] == 1 and seen["in_other"] == 1
    assert seen["after"] == 2 and not seen["deferred"].startswith("pending-commit:")


def test_enqueue_to_a_redis_that_does_not_answer_raises_and_writes_nothing(project):
    project.env["REDIS_URL"] = "redis://127.0.0.1:1/0"
    done = project.manage("shell", "-c", "from shop import tasks; tasks.add.enqueue(1, 2)", expect=None)
    assert done.returncode != 0
    assert "ConnectionError" in done.stderr and "127.0.0.1:1" in done.stderr


# --- checks, display

def test_check_reports_a_redis_that_does_not_answer_and_unserved_queues(project, tmp_path):
    (tmp_path / "check_settings.py").write_text(textwrap.dedent("""
        from tasksite.settings import *  # noqa: F403
        LIMPYD_JOBS = {"database": "redis://127.0.0.1:1/0", "queues": "default"}
    """))
    project.use_settings(tmp_path, "check_settings")
    done = project.manage("check", expect=None)
    assert done.returncode != 0
    assert "limpyd_jobs.E101" in done.stderr and "Redis does not answer" in done.stderr
    assert "limpyd_jobs.W102" in done.stderr and "'mail'" in done.stderr


def test_limpyd_jobs_show_presents_the_task_and_its_arguments(project, redis_server):
    enqueued = project.shell("out(id=tasks.send.enqueue('a@b.c', subject='hi').id)")
    done = subprocess.run([str(Path(sys.executable).parent / "limpyd-jobs"), f"--database={redis_server.url}",
                           "show", enqueued["id"]], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "shop.tasks.send" in done.stdout
    assert '"args":["a@b.c"]' in done.stdout and '"subject":"hi"' in done.stdout


def test_the_dashboard_presents_the_task_its_arguments_and_result(project):
    from markupsafe import escape

    from limpyd_jobs.dashboard import create_app

    enqueued = project.shell("out(id=tasks.send.enqueue('<a@b.c>', subject='hi').id)")
    project.worker("--max-loops=1")
    page = create_app(secret_key="tests").test_client().get(f"/jobs/{enqueued['id']}").get_data(as_text=True)
    assert "shop.tasks.send" in page
    job = job_of(enqueued["id"])
    for name in ("arguments", "result"):
        assert f"<th>{name}</th>" in page and str(escape(job.get_field(name).hget())) in page
    assert "&lt;a@b.c&gt;" in page and "<a@b.c>" not in page


# --- the example project, as its README runs it

def test_the_example_project_runs_its_task_from_the_readme(tmp_path, redis_server):
    readme = (EXAMPLE / "README.rst").read_text()
    install, run = (line.strip() for line in readme.splitlines()
                    if line.strip().startswith(("pip install", "python manage.py migrate")))
    assert "Django" in install and "django-tasks" in install
    example = Project(tmp_path, redis_server.url, directory=EXAMPLE)
    done = subprocess.run(["bash", "-c", run.replace("python ", f"{sys.executable} ")], cwd=EXAMPLE,
                          env=example.env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert "photos.tasks.resize" in done.stderr  # the worker found the app's task
    seen = example.shell("""
        import json
        from photos.models import Photo
        from photos.tasks import resize
        from limpyd_jobs.contrib.django.tasks import DjangoTaskJob
        (pk,) = DjangoTaskJob.collection()
        result = resize.get_result(DjangoTaskJob.get(pk).ident)
        print(json.dumps({"resized": [photo.resized for photo in Photo.objects.all()],
                          "status": str(result.status), "value": result.return_value}))
    """, prelude="")
    assert seen == {"resized": [True], "status": "SUCCESSFUL", "value": "cat.jpg"}
