"""Shards on one standalone Redis: S job databases under their own hash-tag prefixes, a queue name
in one of them, producers routed by queue name, a worker serving the shard of its queues."""

from __future__ import annotations

import json
import re
import threading
import time
import zlib
from datetime import datetime, timezone

import pytest
from helpers import eventually
from helpers import failing_callback as failing
from redis.crc import key_slot

from limpyd_jobs import STATUSES, get_result, operations, shards
from limpyd_jobs.cli.sweeper import main as sweeper_main
from limpyd_jobs.connection import settings_from_url
from limpyd_jobs.exceptions import ConfigurationException
from limpyd_jobs.metrics import JobsCollector
from limpyd_jobs.models import Job, Queue
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.recurring import dispatch, set_schedule
from limpyd_jobs.tasks.exceptions import TaskResultDoesNotExist
from limpyd_jobs.workers import Worker

S = 3


def names_in_shards(count: int = S) -> list[str]:
    """One queue name per shard, in shard order."""
    found: dict[int, str] = {}
    number = 0
    while len(found) < count:
        found.setdefault(zlib.crc32(f"queue-{number}".encode()) % count, f"queue-{number}")
        number += 1
    return [found[index] for index in range(count)]


@pytest.fixture
def sharded():
    """Three shards for the test (a table row: ``pinned`` in shard 2), one afterwards."""
    shards.configure(S, {"pinned": 2})
    yield names_in_shards()
    shards.configure(1, {})


def shard_tag(key: str) -> str:
    return key[key.index("{"):key.index("}") + 1]


def test_one_shard_is_todays_layout(database):
    assert not shards.sharded()
    assert KEYS.prefix == "limpyd-jobs" and Job._name == "jobs:job" and Queue._name == "jobs:queue"
    job = Job.add_job(identifier="one", queue_name="q")
    assert job.shard == 0 and all("{" not in key for key in database.connection.keys("*"))


def test_a_queue_name_is_in_the_shard_of_its_crc32_or_its_table_row(sharded):
    for name in ("emails", "reports", "queue-7", "ünïcode"):
        assert shards.shard_of(name) == zlib.crc32(name.encode()) % S
    assert shards.shard_of("pinned") == 2
    assert [shards.shard_of(name) for name in sharded] == [0, 1, 2]


def test_prefixes_number_the_hash_tag():
    assert shards.Layout(3).prefix(1) == "{jobs-1}"
    assert shards.Layout(3, base="{app}").prefix(2) == "{app-2}"
    assert shards.Layout(3, base="acl:{app}:x").prefix(0) == "acl:{app-0}:x"
    assert shards.Layout(3, base="myapp").prefix(0) == "myapp:{jobs-0}"


def test_add_job_writes_every_key_in_the_one_slot_of_its_queues_shard(sharded, database):
    for index, name in enumerate(sharded):
        job = Job.add_job(identifier="same", queue_name=name)
        assert job.shard == index and job.status.hget() == "w"
    keys = database.connection.keys("*")
    assert {shard_tag(key) for key in keys} == {"{jobs-0}", "{jobs-1}", "{jobs-2}"}
    for key in keys:
        assert key_slot(key.encode()) == key_slot(shard_tag(key).encode())
    for index, name in enumerate(sharded):  # one job per shard: the same identifier is not shared
        with shards.using(index):
            assert len(Job.collection()) == 1
            assert Queue.count_waiting_jobs(name) == 1


def test_add_jobs_adds_each_item_in_the_shard_of_its_queue_in_order(sharded, database):
    zero, one, two = sharded
    items = ["a", {"identifier": "b", "queue_name": two}, "c", {"identifier": "d", "queue_name": one}]
    added = Job.add_jobs(items, queue_name=zero)
    assert [(job.shard, job.identifier.hget()) for job in added] == [(0, "a"), (2, "b"), (0, "c"), (1, "d")]
    assert Queue.count_waiting_jobs(sharded) == 4
    assert [queue.shard for queue in Queue.get_all(sharded)] == [0, 1, 2]


def test_a_worker_serves_the_shard_of_its_queues(sharded, database, make_worker):
    zero, _, two = sharded
    Job.add_job(identifier="first", queue_name=two)
    Job.add_job(identifier="second", queue_name=two)
    Job.add_job(identifier="elsewhere", queue_name=zero)
    seen = []
    worker = make_worker(two, max_loops=2, callback=lambda job, queue: seen.append((job.shard, queue.shard)))
    worker.run()
    assert seen == [(2, 2), (2, 2)] and shards.current() == 0  # the run's shard is over
    with shards.using(2):
        assert {job.status.hget() for job in Job.collection().instances()} == {"s"}
    with shards.using(0):
        assert [job.status.hget() for job in Job.collection().instances()] == ["w"]


def test_a_worker_whose_queues_span_shards_refuses_to_run(sharded, make_worker):
    with pytest.raises(ConfigurationException, match="a worker serves one shard"):
        make_worker([sharded[0], sharded[1]]).run()


def test_a_job_made_in_a_shard_reads_and_requeues_there_from_anywhere(sharded, database):
    job = Job.add_job(identifier="mine", queue_name=sharded[1])
    job.status.hset("e")
    assert job.requeue(sharded[1])
    with shards.using(0):
        assert job.status.hget() == "w"
        assert Queue.count_waiting_jobs(sharded[1]) == 2  # the add's, then the requeue's
        assert not Job.collection()
    assert database.connection.keys("{jobs-0}*") == []  # not even an index of its status


def test_the_url_says_the_shards_and_the_table(database):
    settings = settings_from_url("redis://127.0.0.1:6400/0?shards=3&shard_table=emails%3D2,reports%3D0")
    assert settings["shards"] == 3 and settings["shard_table"] == {"emails": 2, "reports": 0}
    assert "shards" not in str(settings.get("path", ""))
    try:
        database.reset(**{**database.connection_settings, "shards": 3, "shard_table": {"emails": 2}})
        assert shards.count() == 3 and shards.shard_of("emails") == 2
    finally:
        shards.configure(1, {})


@pytest.mark.parametrize("query", ["shards=0", "shards=two", "shards=2&shard_table=emails%3D2",
                                   "shards=2&shard_table=emails", "shards=%C2%B2", "shards=1000000000",
                                   "shards=2&shard_table=emails%3D%C2%B2", "shard_table=emails%3D0"])
def test_bad_shard_options_are_refused_naming_the_url(query):
    with pytest.raises(ConfigurationException, match="shard"):
        settings_from_url(f"redis://127.0.0.1:6400/0?{query}")


def test_the_environment_says_the_shards(monkeypatch):
    monkeypatch.setenv(shards.SHARDS_VARIABLE, "4")
    monkeypatch.setenv(shards.TABLE_VARIABLE, "emails=3")
    try:
        layout = shards.configure()
        assert layout.count == 4 and layout.shard_of("emails") == 3
        monkeypatch.setenv(shards.SHARDS_VARIABLE, "-1")
        with pytest.raises(ConfigurationException, match=shards.SHARDS_VARIABLE):
            shards.configure()
    finally:
        monkeypatch.delenv(shards.SHARDS_VARIABLE)
        monkeypatch.delenv(shards.TABLE_VARIABLE)
        shards.configure(1, {})


# --- operations, metrics, the sweeper and the dispatcher over every shard


def test_counts_and_names_merge_every_shard(sharded, database):
    for index, name in enumerate(sharded):
        for number in range(index + 1):
            Job.add_job(identifier=f"job-{number}", queue_name=name)
    assert operations.queue_names() == sorted(sharded)
    assert [(counted.name, counted.waiting) for counted in operations.all_counts()] == sorted(
        (name, index + 1) for index, name in enumerate(sharded))
    assert operations.counts(sharded[2]).waiting == 3
    assert [info.identifier for info in operations.jobs(sharded[1])] == ["job-0", "job-1"]
    assert {info.shard for info in operations.jobs(sharded[2])} == {2}


def test_an_ident_in_several_shards_is_named_with_its_shard(sharded, database):
    first = Job.add_job(identifier="here", queue_name=sharded[0])
    second = Job.add_job(identifier="there", queue_name=sharded[2])
    assert first.ident == second.ident  # each shard counts its own pks
    with pytest.raises(operations.UnknownJob, match="@N"):
        operations.find_job(first.ident)
    assert operations.find_job(f"{first.ident}@2").identifier == "there"
    assert operations.find_job(f"{sharded[2]}/there").shard == 2
    assert operations.find_job(f"{sharded[2]}/there").name == f"{second.ident}@2"
    assert operations.cancel(f"{second.ident}@2") == "canceled"
    assert second.status.hget() == STATUSES.CANCELED and first.status.hget() == STATUSES.WAITING
    only = Job.add_job(identifier="alone", queue_name=sharded[1])
    assert operations.find_job(only.ident + "@1").shard == 1
    with pytest.raises(operations.UnknownJob, match="3 shards"):
        operations.find_job(f"{only.ident}@7")


def test_a_queue_is_paused_emptied_and_requeued_in_its_shard(sharded, database, make_worker):
    name = sharded[2]
    job = Job.add_job(identifier="bad-one", queue_name=name)
    make_worker(name, max_loops=1, callback=failing).run()
    assert job.status.hget() == STATUSES.ERROR
    assert [info.shard for info, _ in operations.failures(name)] == [2]
    assert [info.identifier for info, _ in operations.recent_failures(sharded)] == ["bad-one"]
    assert operations.requeue_failed(name) == 1 and job.status.hget() == STATUSES.WAITING
    assert operations.pause(name) and operations.paused() == {name}
    with shards.using(0):
        assert not database.connection.sismember(KEYS.paused(), name)
    with shards.using(2):
        assert database.connection.sismember(KEYS.paused(), name)
    assert operations.resume(name) and operations.paused() == set()
    assert operations.empty(name) == 1 and job.status.hget() == STATUSES.CANCELED


def test_workers_are_listed_and_stopped_in_their_shard(sharded, database, make_worker):
    name = sharded[1]
    Job.add_job(identifier="first", queue_name=name)
    Job.add_job(identifier="second", queue_name=name)
    seen = {}

    def look(job, queue):
        with shards.using(0):  # a worker of shard 1, found from shard 0
            assert [info.id for info in Worker.registered_workers()] == [worker.id]
        seen["workers"] = [(state.id, state.queues) for state in operations.workers()]
        seen["asked"] = operations.stop_workers([worker.id])

    worker = make_worker(name, max_loops=10, callback=look)
    worker.run()  # it ends, asked to stop, before max_loops (2 jobs)
    assert seen == {"workers": [(worker.id, [name])], "asked": [worker.id]}
    assert Worker.registered_workers() == []  # it left the registry of its shard
    with pytest.raises(operations.UnknownWorker):
        operations.stop_workers(["nobody"])


def test_halt_is_written_in_every_shard(sharded, database):
    assert operations.control("HALT") == operations.HALT
    for index in range(S):
        with shards.using(index):
            assert database.connection.get(KEYS.control()) == operations.HALT
    assert operations.control("CLEAR") is None and operations.control() is None


def test_the_metrics_add_up_the_queues_of_every_shard(sharded, database):
    for index, name in enumerate(sharded):
        for number in range(index + 1):
            Job.add_job(identifier=f"job-{number}", queue_name=name)
    families = {family.name: family for family in JobsCollector().collect()}
    samples = families["limpyd_jobs_queue_waiting_jobs"].samples
    waiting = {sample.labels["queue"]: sample.value for sample in samples}
    assert waiting == {name: index + 1 for index, name in enumerate(sharded)}


def test_the_sweeper_gives_back_the_jobs_of_dead_workers_of_every_shard(sharded, database, make_worker,
                                                                         redis_server):
    job = Job.add_job(identifier="lost", queue_name=sharded[2])
    with shards.using(2):
        worker = make_worker(sharded[2])
        worker.update_keys()
        worker.wait_for_job()
        database.connection.zadd(KEYS.workers(), {worker.id: time.time() - 3600})
    assert job.status.hget() == STATUSES.RUNNING
    database_option = f"--database=127.0.0.1:{redis_server.port}:0"
    assert sweeper_main([database_option, "--once", "--heartbeat-timeout=10"]) == 0
    assert job.status.hget() == STATUSES.WAITING


def test_the_dispatcher_moves_the_due_runs_of_every_shard(sharded, database):
    due = time.time() + 60
    for index in (1, 2):
        with shards.using(index):
            set_schedule(f"report-{index}", f"AT:{due}", queue_name=sharded[index])
    assert sorted(dispatch(now=due + 1)) == ["report-1", "report-2"]
    for index in (1, 2):
        with shards.using(index):
            assert Queue.count_waiting_jobs(sharded[index]) == 1


# --- task results name their shard


def test_a_task_result_names_its_shard_and_is_read_there(sharded, database, make_worker):
    import task_samples as app

    results = [app.add.using(queue_name=name).enqueue(index, 1) for index, name in enumerate(sharded)]
    assert [result.id.rpartition("@")[2] for result in results] == ["0", "1", "2"]
    assert len({result.id.partition("@")[0] for result in results}) == 1  # one ident in each shard
    make_worker(sharded[2], max_loops=1, job_modules=["task_samples"]).run()
    assert get_result(results[2].id).return_value == 3
    assert get_result(results[2].id).wait(timeout=0).is_finished
    assert get_result(results[1].id).status == "READY"
    with pytest.raises(TaskResultDoesNotExist):
        get_result(results[0].id.partition("@")[0] + "@9")


# --- the dashboard over every shard


def test_the_dashboard_shows_and_acts_on_every_shard(sharded, database, make_worker):
    pytest.importorskip("flask")
    from limpyd_jobs.dashboard import create_app
    from limpyd_jobs.dashboard.reading import throughput

    for name in sharded:
        Job.add_job(identifier="fine", queue_name=name)
    bad = Job.add_job(identifier="bad-photo", queue_name=sharded[2])
    make_worker(sharded[2], burst=True, callback=failing).run()
    client = create_app(secret_key="tests").test_client()
    overview = client.get("/").get_data(as_text=True)
    for name in sharded:
        assert f'data-queue="{name}"' in overview
    assert f'href="/jobs/{bad.ident}@2"' in overview  # a recent failure, named in its shard
    page = client.get(f"/jobs/{bad.ident}@2").get_data(as_text=True)
    assert "bad-photo" in page and ">ERROR<" in page and "ValueError: cannot read bad-photo" in page
    queue_page = client.get(f"/queue?name={sharded[2]}&state=error").get_data(as_text=True)
    assert "ValueError: cannot read bad-photo" in queue_page  # its last error, read in its shard
    token = re.search(r'name="csrf_token" value="([^"]+)"', queue_page).group(1)
    response = client.post("/actions/requeue", data={"csrf_token": token, "job": f"{bad.ident}@2",
                                                     "next": "/"})
    assert response.status_code == 303 and bad.status.hget() == STATUSES.WAITING
    assert {queue["name"] for queue in client.get("/api/counts").get_json()["queues"]} == set(sharded)
    assert throughput(datetime.now(timezone.utc)).total == 1  # the success of shard 2, read from shard 0


def test_the_testing_helpers_run_the_jobs_of_every_shard(sharded, database):
    from limpyd_jobs.testing import burst, run_jobs

    for name in sharded:
        Job.add_job(identifier=f"in-{name}", queue_name=name)
    ran = run_jobs(sharded[:2], callback=lambda job, queue: None)
    assert sorted(one.identifier for one in ran) == sorted(f"in-{name}" for name in sharded[:2])
    assert [one.identifier for one in burst(lambda job, queue: None)] == [f"in-{sharded[2]}"]


def test_the_commands_list_every_shard_and_name_jobs_in_theirs(sharded, database, redis_server, capsys):
    from limpyd_jobs.cli.admin import main

    url = f"--database=redis://127.0.0.1:{redis_server.port}/0?shards=3"
    jobs = [Job.add_job(identifier=f"in-{name}", queue_name=name) for name in sharded]
    assert main([url, "queues", "--json"]) == 0
    assert {queue["name"] for queue in json.loads(capsys.readouterr().out)} == set(sharded)
    assert main([url, "jobs", sharded[2]]) == 0
    assert f"{jobs[2].ident}@2" in capsys.readouterr().out
    assert main([url, "show", f"{jobs[1].ident}@1"]) == 0
    assert "in-" + sharded[1] in capsys.readouterr().out
    assert main([url, "cancel", f"{jobs[2].ident}@2"]) == 0
    capsys.readouterr()
    assert jobs[2].status.hget() == STATUSES.CANCELED and jobs[0].status.hget() == STATUSES.WAITING


def test_two_workers_of_two_shards_in_one_process_beat_each_in_its_own(sharded, database, make_worker,
                                                                       threads):
    release, started, workers = threading.Event(), [], []

    def hold(job, queue):
        started.append(queue.shard)
        release.wait(10)

    for index in (1, 2):
        Job.add_job(identifier="held", queue_name=sharded[index])
        workers.append(make_worker(sharded[index], max_loops=1, callback=hold, heartbeat_interval=0.05))
    for worker in workers:
        threads.start(worker.run)
    try:
        assert eventually(lambda: sorted(started) == [1, 2], 10)

        def beat(index, worker):
            with shards.using(index):
                return database.connection.zscore(KEYS.workers(), worker.id)

        first = [beat(1, workers[0]), beat(2, workers[1])]
        assert eventually(lambda: beat(1, workers[0]) > first[0] and beat(2, workers[1]) > first[1], 10)
        assert beat(2, workers[0]) is None and beat(1, workers[1]) is None
    finally:
        release.set()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_jobs_run_in_lanes_work_in_their_workers_shard(sharded, database, make_worker, asynchronous):
    seen = []

    def record(job, queue):
        seen.append(shards.current())

    async def record_async(job, queue):
        seen.append(shards.current())

    for number in range(3):
        Job.add_job(identifier=f"job-{number}", queue_name=sharded[2])
    callback = record_async if asynchronous else record
    make_worker(sharded[2], max_loops=3, concurrency=2, callback=callback).run()
    assert seen == [2, 2, 2]
