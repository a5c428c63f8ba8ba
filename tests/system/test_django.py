"""Django: ``manage.py limpyd_jobs_worker`` and ``settings.LIMPYD_JOBS``, ``Job.add_job_on_commit``,
and the plain ``limpyd-jobs-worker`` with a WorkerConfig that sets Django up, on the example
project of ``examples/django``.

Django runs in subprocesses only (cwd: the example project; its SQLite database under tmp_path;
Redis: the private server of the tests), so its global settings never reach the other tests.
Every worker is bounded: ``--max-loops``, ``--timeout=1``, ``--max-duration`` and a subprocess
timeout (``subprocess.run`` kills the process when it is reached).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT

pytest.importorskip("django")

from limpyd_jobs import STATUSES, Job, Queue  # noqa: E402
from limpyd_jobs.contrib.django.options import settings_arguments  # noqa: E402
from limpyd_jobs.exceptions import ConfigurationException  # noqa: E402

EXAMPLE = ROOT / "examples" / "django"
WORKER_SCRIPT = Path(sys.executable).parent / "limpyd-jobs-worker"
#: The example's WorkerConfig that sets Django up, for the plain limpyd-jobs-worker.
RECIPE = "djangoproject.worker.DjangoWorkerConfig"
#: Bounds of every worker run here, besides the subprocess timeout.
BOUNDED = ["--timeout=1", "--max-duration=30", "--no-title"]
RUN_TIMEOUT = 60


class Project:
    """The example project, run in subprocesses against a SQLite file of its own and our Redis."""

    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        self.sqlite_path = tmp_path / "photos.sqlite3"
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("DJANGO_")}
        python_path = [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]  # tmp_path: settings
        self.env.update(PHOTOS_SQLITE_PATH=str(self.sqlite_path), REDIS_URL=redis_url,
                        DJANGO_SETTINGS_MODULE="djangoproject.settings",
                        PYTHONPATH=os.pathsep.join(python_path))
        self.tmp_path = tmp_path

    def run(self, *command: str | Path, expect: int | None = 0) -> subprocess.CompletedProcess:
        """Run ``command`` in the project; check its exit code unless ``expect`` is None."""
        done = subprocess.run([str(part) for part in command], cwd=EXAMPLE, env=self.env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        if expect is not None:
            assert done.returncode == expect, (
                f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def manage(self, *arguments: str, expect: int | None = 0) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "manage.py", *arguments, expect=expect)

    def shell(self, code: str) -> dict:
        """Run ``code`` in ``manage.py shell``; it prints one JSON object, returned."""
        done = self.manage("shell", "-c", textwrap.dedent(code))
        return json.loads(done.stdout.strip().splitlines()[-1])

    def use_settings(self, name: str, limpyd_jobs: dict) -> None:
        """Run with a settings module ``name`` (in tmp_path): the example's, with this LIMPYD_JOBS."""
        (self.tmp_path / f"{name}.py").write_text(
            f"from djangoproject.settings import *  # noqa: F403\n\nLIMPYD_JOBS = {limpyd_jobs!r}\n")
        self.env["DJANGO_SETTINGS_MODULE"] = name

    def add_photo(self, path: str) -> str:
        """Add a photo with the example's service (its job added on commit); return its pk."""
        return str(self.shell(f"""
            import json
            from photos.services import add_photo_with_a_job as add_photo
            print(json.dumps({{"pk": add_photo({path!r}).pk}}))
        """)["pk"])

    def resized(self, pk: str) -> bool:
        """Read the SQLite file directly: is this photo resized?"""
        with sqlite3.connect(self.sqlite_path) as connection:
            (resized,) = connection.execute("SELECT resized FROM photos_photo WHERE id = ?",
                                            (int(pk),)).fetchone()
        return bool(resized)


@pytest.fixture
def project(tmp_path, redis_server):
    """The example project, migrated, on the tests' private Redis (database 0, flushed per test)."""
    assert redis_server.port != 6379
    project = Project(tmp_path, redis_server.url)
    project.manage("migrate", "--verbosity=0")
    return project


@pytest.fixture
def other_database(redis_server):
    """Database 2 of the private server (flushed before and after): settings.LIMPYD_JOBS' one."""
    client = redis_server.client(db=2)
    client.flushdb()
    yield f"redis://127.0.0.1:{redis_server.port}/2", client
    client.flushdb()
    client.close()


def jobs(identifier: str) -> list[Job]:
    """The jobs with this identifier in the tests' Redis database."""
    return [Job.get(pk) for pk in Job.collection(identifier=identifier)]


def status(identifier: str) -> str:
    (job,) = jobs(identifier)
    return job.status.hget()


# --- (a) manage.py limpyd_jobs_worker runs the job added by the example's service

def test_manage_py_worker_resizes_the_photo_added_by_the_service(project):
    pk = project.add_photo("cat.jpg")
    assert status(pk) == STATUSES.WAITING
    assert not project.resized(pk)

    # queues, callback and database come from the example's settings.LIMPYD_JOBS
    project.manage("limpyd_jobs_worker", "--max-loops=1", *BOUNDED)

    assert project.resized(pk)
    assert status(pk) == STATUSES.SUCCESS


# --- (b) Job.add_job_on_commit

def test_add_job_on_commit_adds_nothing_when_the_transaction_rolls_back(project):
    seen = project.shell("""
        import json
        from django.db import transaction
        from limpyd_jobs import Job
        from photos.models import Photo
        from photos.services import add_photo_with_a_job as add_photo

        class Rollback(Exception):
            pass

        try:
            with transaction.atomic():
                photo = Photo.objects.create(path="direct.jpg")
                Job.add_job_on_commit(identifier="rolled-back", queue_name="photos")
                raise Rollback
        except Rollback:
            pass
        try:
            with transaction.atomic():  # the service's block is inside this one: it commits with it
                add_photo("by-service.jpg")
                raise Rollback
        except Rollback:
            pass
        print(json.dumps({"photos": Photo.objects.count()}))
    """)
    assert seen == {"photos": 0}
    assert jobs("rolled-back") == []
    assert list(Job.collection()) == []  # not the service's job either


def test_add_job_on_commit_adds_the_job_only_once_the_transaction_commits(project):
    seen = project.shell("""
        import json
        from django.db import transaction
        from limpyd_jobs import Job
        from photos.services import add_photo_with_a_job as add_photo

        def count(identifier):
            return len(list(Job.collection(identifier=identifier)))

        with transaction.atomic():
            Job.add_job_on_commit(identifier="direct", queue_name="photos")
            direct_inside = count("direct")
            photo = add_photo("by-service.jpg")  # nested: its on_commit waits for this block
            service_inside = count(str(photo.pk))
        Job.add_job_on_commit(identifier="no-transaction", queue_name="photos")  # added at once
        print(json.dumps({"direct_inside": direct_inside, "service_inside": service_inside,
                          "no_transaction": count("no-transaction"), "pk": str(photo.pk)}))
    """)
    assert seen["direct_inside"] == 0
    assert seen["service_inside"] == 0
    assert seen["no_transaction"] == 1
    for identifier in ("direct", seen["pk"], "no-transaction"):
        assert status(identifier) == STATUSES.WAITING


# --- (c) settings.LIMPYD_JOBS, and the command line over it

def test_settings_give_the_options_and_the_command_line_wins(project, other_database):
    url, client = other_database
    project.use_settings("custom_settings", {
        "queues": ["thumbnails"], "callback": "photos.jobs.resize", "database": url,
        "requeue_times": 2, "save_tracebacks": False, "max_loops": 1,
    })

    done = project.manage("limpyd_jobs_worker", "--print-options", "--dry-run", "--requeue-times=7",
                          *BOUNDED)
    printed = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert printed["queues"] == "['thumbnails']"
    assert printed["callback"] == "photos.jobs.resize"
    assert printed["database"] == url
    assert printed["save_tracebacks"] == "False"
    assert printed["max_loops"] == "1"
    assert printed["requeue_times"] == "7"  # given on the command line, over the settings' 2
    assert printed["worker_class"] == "limpyd_jobs.contrib.django.worker.DjangoWorker"


def test_the_django_worker_closes_the_connection_a_job_left_open(project):
    pk = project.add_photo("dog.jpg")
    seen = project.shell("""
        import json
        from django.db import connection
        from limpyd_jobs.contrib.django.worker import DjangoWorker
        from photos.jobs import resize

        opened = []

        def resize_and_look(job, queue):
            resize(job, queue)
            opened.append(connection.connection is not None)

        DjangoWorker("photos", callback=resize_and_look, max_loops=1, timeout=1,
                     terminate_gracefuly=False).run()
        print(json.dumps({"during": opened, "after": connection.connection is not None}))
    """)
    # CONN_MAX_AGE is 0 in the example: the connection the job opened is closed after it, as
    # Django closes it after a request
    assert seen == {"during": [True], "after": False}
    assert project.resized(pk)


def test_settings_database_is_used_by_every_process_and_queues_overridden(project, other_database):
    url, client = other_database
    project.use_settings("custom_settings", {
        "queues": "thumbnails", "callback": "photos.jobs.resize", "database": url, "max_loops": 1,
    })
    pk = project.add_photo("dog.jpg")  # the app's ready() points the models at settings' database
    assert jobs(pk) == []  # not in REDIS_URL's database
    assert client.dbsize() > 0

    # the photos queue only because --queues says so; the rest from the settings
    project.manage("limpyd_jobs_worker", "--queues=photos", *BOUNDED)

    assert project.resized(pk)
    assert project.shell(f"""
        import json
        from limpyd_jobs import Job
        (pk,) = Job.collection(identifier={pk!r})
        print(json.dumps({{"status": Job.get(pk).status.hget()}}))
    """) == {"status": STATUSES.SUCCESS}


def test_settings_arguments_spell_each_kind_of_option():
    assert settings_arguments({
        "queues": ["a", "b"], "queue_cycle": ["a", "a", "b"], "callback": json.dumps, "queue_model": Queue,
        "requeue_priority_delta": -2, "save_errors": False, "save_tracebacks": "yes",
        "update_title": False, "dry_run": True, "print_options": False, "max_duration": None,
    }) == [
        "--queues=a,b", "--queue-cycle=a:a:b",
        "--callback=json.dumps", "--queue-model=limpyd_jobs.models.Queue",
        "--requeue-priority-delta=-2", "--no-save-errors", "--save-tracebacks", "--no-title",
        "--dry-run",
    ]
    assert settings_arguments({"update_title": True, "queues": "a"}) == ["--queues=a"]


# --- (d) a LIMPYD_JOBS that is wrong

def test_unknown_settings_key_is_a_clear_error(project):
    project.use_settings("typo_settings", {"queue": "photos", "callback": "photos.jobs.resize"})

    done = project.manage("limpyd_jobs_worker", "--max-loops=1", *BOUNDED, expect=None)
    assert done.returncode != 0
    assert ("CommandError: settings.LIMPYD_JOBS has unknown key: 'queue' (did you mean 'queues'?)"
            in done.stderr)
    assert "Traceback" not in done.stderr

    checked = project.manage("check", expect=None)
    assert checked.returncode != 0
    assert "limpyd_jobs.E001" in checked.stderr and "'queue'" in checked.stderr


def test_wrong_settings_values_are_clear_errors(project):
    with pytest.raises(ConfigurationException, match="must be a dict of worker options, not list"):
        settings_arguments(["queues"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationException, match=r"LIMPYD_JOBS\['save_errors'\].*'maybe'"):
        settings_arguments({"save_errors": "maybe"})

    # a value the worker refuses: its own message, and the exit code limpyd-jobs-worker gives
    project.use_settings("bad_callback_settings", {"queues": "photos", "callback": "photos.jobs.nothing"})
    done = project.manage("limpyd_jobs_worker", "--max-loops=1", *BOUNDED, expect=None)
    assert "callback" in done.stderr and "nothing" in done.stderr
    assert "Traceback" not in done.stderr
    plain = project.run(WORKER_SCRIPT, "--pythonpath=.", f"--worker-config={RECIPE}", "--queues=photos",
                        "--callback=photos.jobs.nothing", "--max-loops=1", *BOUNDED, expect=None)
    assert done.returncode == plain.returncode > 1  # 1: a CommandError of ours


def test_help_is_the_workers(project):
    for arguments in (["limpyd_jobs_worker", "--help"], ["help", "limpyd_jobs_worker"]):
        done = project.manage(*arguments)
        assert done.stdout.startswith("Options default to settings.LIMPYD_JOBS")
        assert "Usage: limpyd-jobs-worker" in done.stdout and "--queues QUEUES" in done.stdout


def test_django_settings_option_is_taken_by_manage_py(project):
    project.env.pop("DJANGO_SETTINGS_MODULE")
    done = project.manage("limpyd_jobs_worker", "--settings", "djangoproject.settings",
                          "--print-options", "--dry-run", *BOUNDED)
    assert "callback: photos.jobs.resize" in done.stdout


# --- (e) the plain limpyd-jobs-worker, with the example's WorkerConfig recipe

def test_console_script_with_a_worker_config_that_sets_django_up(project):
    pk = project.add_photo("bird.jpg")
    project.env.pop("DJANGO_SETTINGS_MODULE")  # the recipe sets it when it is not set
    command = [WORKER_SCRIPT, "--pythonpath=.", "--queues=photos", "--callback=photos.jobs.resize",
               "--max-loops=1", *BOUNDED]

    # without it: the callback imports Django models before Django is set up
    failed = project.run(*command, expect=None)
    assert failed.returncode != 0
    assert "ImproperlyConfigured" in failed.stderr or "AppRegistryNotReady" in failed.stderr
    assert status(pk) == STATUSES.WAITING

    project.run(*command, f"--worker-config={RECIPE}")

    assert project.resized(pk)
    assert status(pk) == STATUSES.SUCCESS


def test_queues_in_several_shards_run_a_django_worker_per_shard(project, redis_server):
    """``?shards=3``, queues of two shards: as ``limpyd-jobs worker``, a pool of a worker per shard,
    each with Django set up (the jobs of both shards read and write the Django database)."""
    from limpyd_jobs import shards

    url = redis_server.url + "?shards=3"
    assert url.startswith("redis://") and "?" not in redis_server.url
    project.env["REDIS_URL"] = url
    shards.configure(3)
    try:
        assert shards.shard_of("photos") != shards.shard_of("thumbnails")
        in_photos = project.add_photo("cat.jpg")
        in_thumbnails = project.shell("""
            import json
            from limpyd_jobs import Job
            from photos.services import add_photo
            pk = add_photo("dog.jpg").pk
            Job.add_job(identifier=str(pk), queue_name="thumbnails")
            print(json.dumps({"pk": str(pk)}))
        """)["pk"]
        done = project.manage("limpyd_jobs_worker", "--queues=photos,thumbnails", "--burst", *BOUNDED)
        assert "queues in 2 shards: 2 worker processes, each in one shard" in done.stderr + done.stdout
        assert project.resized(in_photos) and project.resized(in_thumbnails)
        for name, pk in (("photos", in_photos), ("thumbnails", in_thumbnails)):
            with shards.for_queue(name):
                assert status(pk) == STATUSES.SUCCESS
    finally:
        shards.configure(1, {})
