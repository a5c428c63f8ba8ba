"""What adding a job costs Redis: the commands add_job.lua runs for a new job (each a key of the
limpyd layout that collections, filters or the dedup read) and the keys a waiting job holds."""

from __future__ import annotations

from limpyd_jobs import STATUSES, Job
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.tasks import task


@task(queue_name="cost")
def costed(number):
    return number


def script_commands(redis_server, action):
    """The commands the scripts ran while ``action()`` ran, in order (MONITOR's lua client)."""
    sentinel = "add-cost-end"
    client = redis_server.client(decode_responses=True)
    found = []
    with client.monitor() as monitor:
        action()
        client.echo(sentinel)
        for command in monitor.listen():
            if command["command"] == f"ECHO {sentinel}":
                break
            if command["client_type"] == "lua":
                found.append(command["command"].split(" ", 1)[0].upper())
    client.close()
    return found


# the dedup, the pk, its collection, the identifier index, the queue lookup, the push, the hash,
# the status and queued indexes (priority has no index set: its filters scan the hashes)
NEW_JOB = ["SINTER", "INCR", "SADD", "SADD", "SINTER", "RPUSH", "HSET", "SADD", "SADD"]


def test_a_new_job_costs_nine_commands_and_writes_no_history(redis_server, connection):
    Job.add_job(identifier="warm-up", queue_name="q")  # the queue and the models registry exist
    commands = script_commands(redis_server, lambda: Job.add_job(identifier="job", queue_name="q"))
    assert commands == NEW_JOB
    job = Job.collection(identifier="job").instances()[0]
    pk = job.pk.get()
    assert not connection.exists(KEYS.field(model=Job._name, pk=pk, field="history"))
    assert job.events()[0]["event"] == "added"
    indexed = (("identifier", "job"), ("status", STATUSES.WAITING), ("queued", "1"))
    for field, value in indexed:
        assert pk in connection.smembers(KEYS.index(model=Job._name, field=field, value=value))
    assert not connection.exists(KEYS.index(model=Job._name, field="priority", value="0"))


def test_no_add_writes_a_priority_index(connection):
    Job.add_job(identifier="job", queue_name="q")
    Job.add_job(identifier="job", queue_name="q", priority=3)  # raised: moves to the queue of 3
    Job.add_jobs(["a", {"identifier": "b", "priority": 2}], queue_name="q")
    job = Job.add_job(identifier="failed", queue_name="q")
    job.status.hset(STATUSES.ERROR)
    job.requeue(queue_name="q", priority=4)
    costed.enqueue(2)
    assert connection.keys(KEYS.index(model=Job._name, field="priority", value="*")) == []
    assert Job(job.pk.get()).priority.hget() == "4"


def test_a_task_enqueue_costs_what_a_job_add_costs(redis_server, database):
    costed.enqueue(0)
    assert script_commands(redis_server, lambda: costed.enqueue(1)) == NEW_JOB


def test_a_wake_up_token_is_pushed_only_when_the_waiting_list_was_empty(redis_server, connection):
    Job.add_job(identifier="warm-up", queue_name="other")
    first = script_commands(redis_server, lambda: Job.add_job(identifier="first", queue_name="q"))
    second = script_commands(redis_server, lambda: Job.add_job(identifier="second", queue_name="q"))
    assert first.count("RPUSH") == 2 and second.count("RPUSH") == 1  # the push, and the token once
    assert connection.llen(KEYS.wakeup(model=Job.queue_model._name, name="q")) == 1


def test_a_waiting_job_holds_two_keys_of_its_own(connection):
    Job.add_job(identifier="warm-up", queue_name="q")
    warm = set(connection.keys("*"))
    job = Job.add_job(identifier="job", queue_name="q")
    assert set(connection.keys("*")) - warm == {KEYS.hash(model=Job._name, pk=job.pk.get()),
                                                KEYS.index(model=Job._name, field="identifier", value="job")}


def test_add_jobs_writes_each_index_once_per_call_and_no_priority_index(redis_server):
    Job.add_job(identifier="warm-up", queue_name="q")
    commands = script_commands(redis_server, lambda: Job.add_jobs(["a", "b", "c"], queue_name="q"))
    # per job: the dedup, its hash, its identifier index; per call: the pks, the queue lookup,
    # the list's length and the push, the collection, the queued and status indexes
    assert sorted(commands) == sorted(["SINTER"] * 3 + ["HSET"] * 3 + ["SADD"] * 3 + [
        "INCRBY", "SINTER", "LLEN", "RPUSH", "SADD", "SADD", "SADD"])
