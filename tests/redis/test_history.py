"""Each job's history: the events of its life, written by the scripts with the changes they tell
(no round trip of their own), bounded, and deleted with the job."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from limpyd_jobs import STATUSES, Job, Queue, Worker, operations
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.testing.proxy import script
from limpyd_jobs.utils import datetime_to_str, to_utc

QUIET = dict(timeout=3600, fetch_priorities_delay=3600, fetch_delayed_delay=3600, recovery_delay=3600,
             purge_delay=0)


def names(job):
    return [event["event"] for event in job.events()]


def test_a_job_that_fails_then_succeeds_tells_each_step(make_clocked_worker, clock):
    start = clock.now()
    job = Job.add_job(identifier="job", queue_name="q", priority=3)

    def fail_once(job, queue):
        if job.tries.hget() == "1":
            raise ValueError("first try fails")

    worker = make_clocked_worker("q", callback=fail_once, max_loops=2, requeue_times=1, requeue_delay_delta=5,
                                 **QUIET)
    worker.run()
    events = job.events()
    assert [event["event"] for event in events] == [
        "added", "started", "failed", "requeued", "due", "started", "succeeded"]
    added, started, failed, requeued, due, again, succeeded = events
    assert added == {"event": "added", "at": start, "queue": "q"}  # made from the job's fields
    assert (started["worker"], started["attempt"]) == (worker.id, 1)
    assert failed["error"] == "ValueError: first try fails" and failed["attempt"] == 1
    assert requeued["priority"] == 2  # one lower, as requeue_priority_delta says
    assert requeued["delayed_until"] and due["at"] == start + timedelta(seconds=5)
    assert again["attempt"] == 2 and succeeded["at"] == start + timedelta(seconds=5)


def test_a_job_lost_with_its_worker_tells_its_recovery(make_worker, connection):
    job = Job.add_job(identifier="lost", queue_name="q")
    dead = make_worker()
    dead.update_keys()
    dead.wait_for_job()
    connection.zadd(KEYS.workers(), {dead.id: 0})  # it stopped beating long ago
    rescuer = make_worker(callback=lambda job, queue: None, max_loops=1)
    rescuer.recover_lost_jobs()
    rescuer.run()
    assert names(job) == ["added", "started", "recovered", "started", "succeeded"]
    recovered = job.events()[2]
    assert (recovered["worker"], recovered["outcome"]) == (dead.id, "requeued")


def test_a_skipped_job_and_a_canceled_run_are_told():
    job = Job.add_job(identifier="job", queue_name="q")
    job.status.hset(STATUSES.CANCELED)
    from limpyd_jobs.workers import Worker

    Worker("q", callback=lambda job, queue: None, max_loops=1, timeout=0.05, terminate_gracefuly=False).run()
    assert names(job) == ["added", "skipped"] and job.events()[1]["status"] == STATUSES.CANCELED


def test_the_history_keeps_the_latest_100_events_after_added():
    job = Job.add_job(identifier="job", queue_name="q")
    for priority in range(150):
        job.enqueue_or_delay("q", priority)
    events = job.events()
    assert events[0]["event"] == "added"  # made from the job's fields: never trimmed
    assert len(events) == 101 and events[-1]["priority"] == 149 and events[1]["priority"] == 50


def test_adding_writes_no_history_and_added_is_made_from_the_fields(connection, clock):
    job = Job.add_job(identifier="job", queue_name="q")
    bulk = Job.add_jobs(["a", "b"], queue_name="other")[0]
    for added in (job, bulk):
        assert not connection.exists(KEYS.field(model=Job._name, pk=added.pk.get(), field="history"))
    assert job.events() == [{"event": "added", "at": clock.now(), "queue": "q"}]
    assert bulk.events() == [{"event": "added", "at": clock.now(), "queue": "other"}]


def test_an_added_event_already_written_is_not_made_again(connection):
    job = Job.add_job(identifier="job", queue_name="q")
    key = KEYS.field(model=Job._name, pk=job.pk.get(), field="history")
    connection.rpush(key, json.dumps({"event": "added", "at": "2020-01-02 03:04:05", "priority": 7}))
    events = job.events()
    assert [event["event"] for event in events] == ["added"] and events[0]["priority"] == 7
    assert [event["event"] for event in operations.job_history(job)] == ["added"]


def test_the_history_goes_with_the_job_when_it_is_purged(make_worker, connection):
    job = Job.add_job(identifier="job", queue_name="q")
    make_worker(callback=lambda job, queue: 1 / 0, max_loops=1).run()
    assert connection.exists(job.history.key)  # started and failed: a failure writes them
    assert Queue.get_queue("q").purge_finished(keep=0) == 1
    assert not connection.exists(job.history.key)


def test_an_unreadable_event_is_shown_as_it_is(connection):
    job = Job.add_job(identifier="job", queue_name="q")
    connection.rpush(job.history.key, "{not json")
    assert job.events()[-1] == {"event": "unreadable", "entry": "{not json", "at": None}


def test_the_history_costs_no_round_trip(round_trips):
    Job.add_job(identifier="warm", queue_name="q")  # the script loaded in Redis
    with round_trips() as trips:
        Job.add_job(identifier="job", queue_name="q")
    assert trips.commands == ["EVALSHA"]


def test_jobs_ended_by_a_batch_tell_their_own_success(make_worker):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(3)]
    worker = make_worker(callback=lambda job, queue: None, max_loops=3, prefetch=3)
    worker.run()
    for job in jobs:
        assert names(job) == ["added", "started", "succeeded"]
        assert job.events()[2]["worker"] == worker.id and job.status.hget() == STATUSES.SUCCESS
    assert Queue.get_queue("q").success.lmembers() == [job.ident for job in jobs]
    assert len(Job.collection(status=STATUSES.RUNNING)) == 0 and len(Job.collection(queued=1)) == 0


class OddlyNamedWorker(Worker):
    """A worker whose id holds characters JSON escapes."""

    @property
    def id(self) -> str:
        return 'odd "worker" \\ é'


@pytest.mark.parametrize("prefetch", [1, 3])
@pytest.mark.parametrize("worker_class", [Worker, OddlyNamedWorker])
def test_the_events_of_a_run_are_json_objects_whatever_the_worker_id(connection, clock, prefetch,
                                                                       worker_class):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(3)]
    worker = worker_class("q", callback=lambda job, queue: clock.advance(1), max_loops=3, prefetch=prefetch,
                          timeout=0.05, terminate_gracefuly=False)
    worker.run()
    for job in jobs:  # a success writes no event: its fields tell them
        assert not connection.exists(KEYS.field(model=Job._name, pk=job.pk.get(), field="history"))
        start, end = (to_utc(value) for value in job.hmget("start", "end"))
        assert job.events()[1:] == [{"event": "started", "at": start, "worker": worker.id, "attempt": 1},
                                    {"event": "succeeded", "at": end, "worker": worker.id, "attempt": 1}]
    job = Job.add_job(identifier="fails", queue_name="q")
    worker = worker_class("q", callback=lambda job, queue: 1 / 0, max_loops=1, prefetch=prefetch,
                          timeout=0.05, terminate_gracefuly=False)
    worker.run()
    entries = connection.lrange(KEYS.field(model=Job._name, pk=job.pk.get(), field="history"), 0, -1)
    started, failed = (json.loads(entry) for entry in entries)  # a failure writes them, in JSON
    assert started == {"event": "started", "at": job.start.hget(), "worker": worker.id, "attempt": 1}
    assert (failed["event"], failed["at"], failed["worker"]) == ("failed", job.end.hget(), worker.id)


# --- a take and a success write no event: the fields tell them, until a script changes them


def test_a_running_job_tells_its_start_from_its_fields(make_worker):
    job = Job.add_job(identifier="job", queue_name="q")
    seen = []
    worker = make_worker(callback=lambda job, queue: seen.append(job.events()), max_loops=1)
    worker.run()
    [events] = seen
    assert [event["event"] for event in events] == ["added", "started"]
    assert (events[1]["worker"], events[1]["attempt"]) == (worker.id, 1)
    assert events[1]["at"] == to_utc(job.start.hget())


def test_a_job_canceled_while_it_runs_tells_its_start_before_the_cancel(make_worker):
    job = Job.add_job(identifier="job", queue_name="q")
    make_worker(callback=lambda job, queue: operations.cancel(job), max_loops=1).run()
    assert names(job) == ["added", "started", "canceled", "skipped"]
    assert job.events()[1]["at"] == to_utc(job.start.hget())


def test_a_succeeded_job_run_again_keeps_the_events_of_its_first_run(make_worker, clock):
    job = Job.add_job(identifier="job", queue_name="q")
    worker = make_worker(callback=lambda job, queue: clock.advance(1), max_loops=1)
    worker.run()
    first = job.events()
    job.enqueue_or_delay("q")  # run again, as an operator may
    assert [event["event"] for event in job.events()] == ["added", "started", "succeeded", "requeued"]
    assert job.events()[:3] == first  # written as the fields told them
    make_worker(callback=lambda job, queue: None, max_loops=1).run()
    assert names(job) == ["added", "started", "succeeded", "requeued", "started", "succeeded"]


def test_a_start_written_by_an_earlier_take_is_not_told_twice(make_worker, connection):
    job = Job.add_job(identifier="job", queue_name="q")
    worker = make_worker(callback=lambda job, queue: None, max_loops=1)
    worker.run()
    written = [{"event": "started", "at": job.start.hget(), "worker": worker.id, "attempt": 1},
               {"event": "succeeded", "at": job.end.hget(), "worker": worker.id, "attempt": 1}]
    connection.rpush(job.history.key, *(json.dumps(event) for event in written))  # as older takes wrote
    assert names(job) == ["added", "started", "succeeded"]


def test_a_job_delayed_by_its_own_code_keeps_the_start_of_that_attempt(make_worker, clock):
    job = Job.add_job(identifier="job", queue_name="q")

    def delay_first_run(job, queue):
        if job.tries.hget() == "1":
            job.delayed_until.hset(datetime_to_str(clock.now() + timedelta(seconds=5)))
            job.status.hset(STATUSES.DELAYED)

    make_worker(callback=delay_first_run, max_loops=1).run()
    assert names(job) == ["added", "started", "requeued"]
    clock.advance(6)
    make_worker(callback=delay_first_run, max_loops=1, fetch_delayed_delay=0).run()
    assert names(job) == ["added", "started", "requeued", "due", "started", "succeeded"]
    assert [event.get("attempt") for event in job.events() if event["event"] == "started"] == [1, 2]


def test_a_job_canceled_by_hand_while_it_runs_keeps_its_start(make_worker):
    job = Job.add_job(identifier="job", queue_name="q")
    make_worker(callback=lambda job, queue: job.status.hset(STATUSES.CANCELED), max_loops=1).run()
    assert names(job) == ["added", "started", "skipped"]


@pytest.mark.parametrize(("fails", "prefetch"), [(True, 1), (False, 1), (False, 3)])
def test_an_ident_taken_twice_tells_the_running_attempt_once(make_worker, connection, fails, prefetch):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(3)]
    waiting = Queue.get_queue("q").waiting
    seen = []

    def run_then_end(job, queue):
        if job.identifier.hget() != "job:0":
            return
        waiting.lpush(job.ident)  # a duplicate entry: another worker skips it while this one runs
        make_worker(callback=lambda job, queue: None, max_loops=1).run()
        seen.append(names(job))
        if fails:
            raise ValueError("fails")

    make_worker(callback=run_then_end, max_loops=3, prefetch=prefetch).run()
    assert seen == [["added", "started", "skipped"]]
    assert names(jobs[0]) == ["added", "started", "skipped", "failed" if fails else "succeeded"]
    assert names(jobs[1]) == ["added", "started", "succeeded"]


def test_a_succeeded_job_skipped_later_tells_its_run_first(make_worker):
    job = Job.add_job(identifier="job", queue_name="q")
    make_worker(callback=lambda job, queue: None, max_loops=1).run()
    Queue.get_queue("q").waiting.rpush(job.ident)  # found again in its list
    make_worker(callback=lambda job, queue: None, max_loops=1).run()
    assert names(job) == ["added", "started", "succeeded", "skipped"]


def test_a_job_untaken_then_run_with_the_same_token_tells_its_run(make_worker, proxy):
    job = Job.add_job(identifier="job", queue_name="q")
    proxy.lose_reply(script("take"))  # given back untaken: its tries go down, its next token is the same
    worker = make_worker(callback=lambda job, queue: None, max_loops=1)
    worker.run()
    assert proxy.counts.lost == 1
    assert names(job) == ["added", "started", "untaken", "started", "succeeded"]
    untaken, again = job.events()[2:4]
    assert again["attempt"] == 1 and job.attempt.hget() == f"{worker.id}:1"
