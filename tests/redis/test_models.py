"""The Job, Queue and Error models: the documented API and its edge cases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from limpyd.exceptions import DoesNotExist
from sample_jobs import AlwaysCancelJob, CodedError, DetailedError, NamedQueue, ResizeJob

from limpyd_jobs import STATUSES, Error, Job, LimpydJobsException, Queue
from limpyd_jobs.exceptions import InvalidDelay, InvalidIdent, InvalidStatus
from limpyd_jobs.protocol import KEYS
from limpyd_jobs.utils import str_to_datetime, to_utc
from limpyd_jobs.workers import Worker


def run_jobs(count, callback=lambda job, queue: None, queues="q", queue_model=Queue, **options):
    """Run ``count`` jobs through a worker (the real scripts record their end)."""
    Worker(queues, callback=callback, max_loops=count, timeout=0.05, terminate_gracefuly=False,
           queue_model=queue_model, **options).run()


def fail(job, queue):
    raise ValueError(f"failed {job.identifier.hget()}")


def waiting(name="q", priority=0, model=Queue):
    return model.get_queue(name, priority).waiting.lmembers()


def delayed(name="q", priority=0, model=Queue):
    return model.get_queue(name, priority).delayed.zrange(0, -1)


# --- STATUSES


def test_statuses_values_and_names():
    assert STATUSES.SUCCESS == "s"
    assert STATUSES.by_value("s") == "SUCCESS"
    assert STATUSES.by_value("w") == "WAITING"
    assert STATUSES.by_value("nope", "UNKNOWN") == "UNKNOWN"
    with pytest.raises(ValueError, match="not a status value"):
        STATUSES.by_value("nope")
    assert len(set(STATUSES.values())) == 6


def test_status_field_refuses_unknown_statuses():
    job = Job.add_job(identifier="job:1", queue_name="q")
    with pytest.raises(InvalidStatus, match="not a status"):
        job.status.hset("x")
    assert job.status.hget() == STATUSES.WAITING
    job.status.hset(STATUSES.CANCELED)
    assert list(Job.collection(status=STATUSES.CANCELED)) == [job.pk.get()]


# --- add_job: creation


def test_add_job_creates_a_waiting_job_in_its_queue(clock):
    job = Job.add_job(identifier="job:1", queue_name="q", priority=1)
    assert job.ident == f"limpyd_jobs.models.Job:{job.pk.get()}"
    assert job.identifier.hget() == "job:1"
    assert job.status.hget() == STATUSES.WAITING
    assert job.priority.hget() == "1"
    assert job.queued.hget() == "1"
    assert str_to_datetime(job.added.hget()) == clock.now()
    assert waiting("q", 1) == [job.ident]


def test_add_job_keeps_limpyd_indexes_and_collections_true():
    job = Job.add_job(identifier="job:1", queue_name="q", priority=2)
    Job.add_job(identifier="job:2", queue_name="q")
    assert set(Job.collection(identifier="job:1")) == {job.pk.get()}
    assert set(Job.collection(status=STATUSES.WAITING)) == {job.pk.get(), "2"}
    assert set(Job.collection(priority=2, queued=1)) == {job.pk.get()}
    assert [queue.pk.get() for queue in Queue.collection(name="q", priority=2).instances()] == [
        Queue.get_queue("q", 2).pk.get()
    ]


def test_filters_by_priority_read_the_hashes_whoever_wrote_them():
    low = Job.add_job(identifier="low", queue_name="q")
    raised = Job.add_job(identifier="raised", queue_name="q", priority=1)
    Job.add_job(identifier="raised", queue_name="q", priority=5)  # add_job raises it
    bulk = Job.add_jobs([{"identifier": "bulk", "priority": 5}], queue_name="q")[0]
    by_limpyd = Job.add_job(identifier="by-limpyd", queue_name="q")
    by_limpyd.priority.hset(7)
    made = Job(identifier="made", priority=3)  # limpyd writes the instance
    assert set(Job.collection(priority=5)) == {raised.pk.get(), bulk.pk.get()}
    assert set(Job.collection(priority=0)) == {low.pk.get()}
    assert set(Job.collection(priority__in=[3, 7])) == {by_limpyd.pk.get(), made.pk.get()}
    assert set(Job.collection(priority=5, identifier="bulk")) == {bulk.pk.get()}
    assert list(Job.collection(priority=9)) == []
    by_limpyd.delete()
    assert list(Job.collection(priority=7)) == []


def test_add_job_without_queue_name_raises():
    with pytest.raises(LimpydJobsException, match="queue name"):
        Job.add_job(identifier="job:1")


def test_add_job_needs_an_identifier():
    with pytest.raises(ValueError, match="identifier"):
        Job.add_job(identifier="", queue_name="q")


def test_add_job_rejects_a_bad_priority():
    with pytest.raises(ValueError, match="priority"):
        Job.add_job(identifier="job:1", queue_name="q", priority="high")


def test_add_job_appends_and_prepend_puts_first():
    first = Job.add_job(identifier="job:1", queue_name="q")
    second = Job.add_job(identifier="job:2", queue_name="q")
    third = Job.add_job(identifier="job:3", queue_name="q", prepend=True)
    assert waiting() == [third.ident, first.ident, second.ident]


# --- add_job: an identifier already queued


def test_same_identifier_with_lower_or_equal_priority_returns_existing_unchanged():
    job = Job.add_job(identifier="job:1", queue_name="q", priority=5)
    again = Job.add_job(identifier="job:1", queue_name="q", priority=5)
    lower = Job.add_job(identifier="job:1", queue_name="q", priority=1)
    assert again == job and lower == job
    assert job.priority.hget() == "5"
    assert waiting("q", 5) == [job.ident]
    assert waiting("q", 1) == []
    assert len(Job.collection()) == 1


def test_same_identifier_with_higher_priority_raises_priority_and_moves_queue():
    job = Job.add_job(identifier="job:1", queue_name="q", priority=1)
    other = Job.add_job(identifier="job:2", queue_name="q", priority=3)
    moved = Job.add_job(identifier="job:1", queue_name="q", priority=3)
    assert moved == job
    assert job.priority.hget() == "3"
    assert waiting("q", 1) == []
    assert waiting("q", 3) == [other.ident, job.ident]
    assert set(Job.collection(priority=1)) == set()


def test_same_identifier_with_prepend_moves_existing_to_front():
    job = Job.add_job(identifier="job:1", queue_name="q")
    other = Job.add_job(identifier="job:2", queue_name="q")
    assert Job.add_job(identifier="job:1", queue_name="q", prepend=True) == job
    assert waiting() == [job.ident, other.ident]


def test_same_identifier_delayed_with_higher_priority_keeps_its_delay():
    job = Job.add_job(identifier="job:1", queue_name="q", delayed_for=60)
    score = Queue.get_queue("q", 0).delayed.zscore(job.ident)
    Job.add_job(identifier="job:1", queue_name="q", priority=2)
    assert job.status.hget() == STATUSES.DELAYED
    assert delayed("q", 0) == []
    assert Queue.get_queue("q", 2).delayed.zscore(job.ident) == score


def test_finished_job_identifier_can_be_added_again():
    job = Job.add_job(identifier="job:1", queue_name="q")
    run_jobs(1)
    assert job.status.hget() == STATUSES.SUCCESS
    new = Job.add_job(identifier="job:1", queue_name="q")
    assert new != job
    assert new.status.hget() == STATUSES.WAITING


def test_add_job_is_one_round_trip(round_trips):
    Job.add_job(identifier="warm-up", queue_name="q")
    with round_trips() as trips:
        Job.add_job(identifier="job:1", queue_name="q", priority=3, delayed_for=5)
        Job.add_job(identifier="job:1", queue_name="q", priority=4)
    assert trips.commands == ["EVALSHA", "EVALSHA"]


# --- delays


@pytest.mark.parametrize("delayed_for", [30, 30.5, timedelta(seconds=30)])
def test_delayed_for_delays_the_job(delayed_for, clock):
    job = Job.add_job(identifier="job:1", queue_name="q", delayed_for=delayed_for)
    assert job.status.hget() == STATUSES.DELAYED
    until = str_to_datetime(job.delayed_until.hget())
    delta = delayed_for if isinstance(delayed_for, timedelta) else timedelta(seconds=delayed_for)
    assert until == clock.now() + delta
    queue = Queue.get_queue("q")
    assert queue.waiting.lmembers() == []
    assert queue.first_delayed == (job.ident, until.timestamp())
    assert queue.first_delayed_time == until.timestamp()


def test_delayed_until_naive_is_utc_and_aware_is_converted():
    naive = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=1)
    job = Job.add_job(identifier="job:1", queue_name="q", delayed_until=naive)
    assert str_to_datetime(job.delayed_until.hget()) == naive.replace(tzinfo=timezone.utc)
    paris = timezone(timedelta(hours=2))
    aware = datetime.now(paris) + timedelta(hours=1)
    job2 = Job.add_job(identifier="job:2", queue_name="q", delayed_until=aware)
    stored = job2.delayed_until.hget()
    assert stored == str((aware - aware.utcoffset()).replace(tzinfo=None))  # str(utcnow()) form
    assert str_to_datetime(stored) == aware


def test_delayed_until_in_the_past_queues_the_job(clock):
    job = Job.add_job(identifier="job:1", queue_name="q", delayed_until=clock.now() - timedelta(seconds=5))
    assert job.status.hget() == STATUSES.WAITING
    assert waiting() == [job.ident]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"delayed_for": "soon"},
        {"delayed_for": True},
        {"delayed_until": 12},
        {"delayed_until": "not a date"},
        {"delayed_for": 1, "delayed_until": datetime(2030, 1, 1)},
    ],
)
def test_invalid_delays_raise_a_clear_error(kwargs):
    with pytest.raises(InvalidDelay):
        Job.add_job(identifier="job:1", queue_name="q", **kwargs)
    assert len(Job.collection()) == 0


# --- subclasses


def test_job_subclass_fields_queue_name_and_queue_model():
    job = ResizeJob.add_job(identifier="photo:1", owner="alice")
    assert isinstance(job, ResizeJob)
    assert job.ident == f"sample_jobs.ResizeJob:{job.pk.get()}"
    assert job.size.hget() == "100x100"  # default
    assert job.owner.hget() == "alice"
    assert list(ResizeJob.collection(owner="alice")) == [job.pk.get()]
    queue = NamedQueue.get_queue("resize")
    assert queue.waiting.lmembers() == [job.ident]
    assert queue.description.hget() == "no description"  # created by the script, defaults set after
    assert Queue.get_all("resize") == []  # the default Queue model is not used


def test_extra_fields_are_not_applied_to_an_existing_job():
    job = ResizeJob.add_job(identifier="photo:1", size="10x10")
    assert ResizeJob.add_job(identifier="photo:1", size="20x20") == job
    assert job.size.hget() == "10x10"


def test_add_job_rejects_unknown_or_managed_fields():
    with pytest.raises(ValueError, match="nope"):
        Job.add_job(identifier="job:1", queue_name="q", nope=1)
    with pytest.raises(ValueError, match="status"):
        Job.add_job(identifier="job:1", queue_name="q", status=STATUSES.SUCCESS)


def test_queue_model_argument():
    job = Job.add_job(identifier="job:1", queue_name="q", queue_model=NamedQueue)
    assert NamedQueue.get_queue("q").waiting.lmembers() == [job.ident]
    assert Queue.get_all("q") == []


def test_must_be_cancelled_on_error():
    job = Job.add_job(identifier="job:1", queue_name="q")
    assert job.must_be_cancelled_on_error is False
    job.cancel_on_error.hset(1)
    assert job.must_be_cancelled_on_error is True
    assert Job.add_job(identifier="job:2", queue_name="q", cancel_on_error=1).must_be_cancelled_on_error
    assert AlwaysCancelJob.add_job(identifier="job:3", queue_name="q").must_be_cancelled_on_error


# --- identity


def test_get_model_repr_and_get_from_ident():
    job = Job.add_job(identifier="job:1", queue_name="q")
    assert Job.get_model_repr() == "limpyd_jobs.models.Job"
    assert Job.get_from_ident(job.ident) == job
    resize = ResizeJob.add_job(identifier="photo:1")
    found = Job.get_from_ident(resize.ident)
    assert isinstance(found, ResizeJob) and found == resize


@pytest.mark.parametrize("ident", ["nothing", ":1", "limpyd_jobs.models.Job:", "no.such.Model:1",
                                   "limpyd_jobs.models.Queue:1", "limpyd_jobs.models.Nope:1"])
def test_get_from_ident_rejects_malformed_idents(ident):
    with pytest.raises(InvalidIdent):
        Job.get_from_ident(ident)


def test_get_from_ident_of_a_deleted_job_raises_does_not_exist():
    with pytest.raises(DoesNotExist):
        Job.get_from_ident("limpyd_jobs.models.Job:999")


def test_duration():
    job = Job.add_job(identifier="job:1", queue_name="q")
    assert job.duration is None
    job.start.hset("2026-01-01 10:00:00.000000+00:00")
    assert job.duration is None
    job.end.hset("2026-01-01 10:00:02.500000+00:00")
    assert job.duration == timedelta(seconds=2.5)


def test_run_is_not_implemented_by_default():
    job = Job.add_job(identifier="job:1", queue_name="q")
    with pytest.raises(NotImplementedError):
        job.run(Queue.get_queue("q"))


# --- requeue / enqueue_or_delay


def test_enqueue_or_delay_and_requeue():
    job = Job(identifier="job:1", priority=0)
    job.enqueue_or_delay(queue_name="q", priority=2)
    assert job.status.hget() == STATUSES.WAITING and job.queued.hget() == "1"
    assert waiting("q", 2) == [job.ident]
    run_jobs(1, fail)
    assert job.status.hget() == STATUSES.ERROR and waiting("q", 2) == []
    job.requeue(queue_name="q", priority=1, delayed_for=10)
    assert job.status.hget() == STATUSES.DELAYED
    assert job.priority.hget() == "1"
    assert delayed("q", 1) == [job.ident]
    with pytest.raises(LimpydJobsException):
        job.requeue()  # no queue name anywhere


def test_enqueue_or_delay_moves_a_waiting_job_instead_of_duplicating_it():
    job = Job.add_job(identifier="job:1", queue_name="q", priority=1)
    job.enqueue_or_delay(queue_name="q", priority=4, prepend=True)
    assert waiting("q", 1) == []
    assert waiting("q", 4) == [job.ident]


# --- Queue


def test_get_queue_creates_once_with_subclass_fields():
    queue = NamedQueue.get_queue("q", 1, description="mine")
    assert queue.description.hget() == "mine"
    same = NamedQueue.get_queue("q", 1, description="ignored")
    assert same == queue
    assert same.description.hget() == "mine"
    assert len(NamedQueue.collection()) == 1
    with pytest.raises(LimpydJobsException):
        Queue.get_queue("")


def test_waiting_keys_by_priority_then_in_the_order_of_the_names():
    for name, priority in [("b", 1), ("a", 1), ("a", 5), ("c", 0), ("other", 9)]:
        Queue.get_queue(name, priority)
    keys = Queue.get_waiting_keys("a,b,c")
    expected = [Queue.get_queue(n, p).waiting.key for n, p in [("a", 5), ("a", 1), ("b", 1), ("c", 0)]]
    assert keys == expected
    assert Queue.get_waiting_keys(["a"]) == expected[:2]
    assert [q.pk.get() for q in Queue.get_all_by_priority(["b", "a"])] == [
        Queue.get_queue(n, p).pk.get() for n, p in [("a", 5), ("b", 1), ("a", 1)]
    ]
    assert len(Queue.get_all("a")) == 2


def test_queues_by_priority_put_a_malformed_priority_last(connection):
    for name, priority in [("a", 1), ("b", 7), ("a", 3)]:
        Queue.get_queue(name, priority)
    broken = Queue.get_queue("a", 2)
    connection.hset(KEYS.hash(model=Queue._name, pk=broken.pk.get()), "priority", "x")
    rows = Queue.by_priority()  # every queue
    assert [(name, priority) for _, name, priority in rows] == [("b", 7), ("a", 3), ("a", 1), ("a", None)]
    assert [pk for pk, _, _ in Queue.by_priority(["a"])] == [pk for pk, name, _ in rows if name == "a"]
    assert [queue.pk.get() for queue in Queue.get_all_by_priority("a")] == [pk for pk, name, _ in rows
                                                                            if name == "a"]
    assert Queue.by_priority(["nope"]) == []


def test_to_utc_reads_datetimes_timestamps_and_stored_strings():
    paris = timezone(timedelta(hours=1))
    utc = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert to_utc(datetime(2026, 1, 2, 4, 4, 5, tzinfo=paris)) == utc
    assert to_utc(datetime(2026, 1, 2, 3, 4, 5)) == utc  # naive: UTC
    assert to_utc(utc.timestamp()) == utc and to_utc(int(utc.timestamp())) == utc
    assert to_utc("2026-01-02 03:04:05") == utc and to_utc("2026-01-02 04:04:05+01:00") == utc
    assert [to_utc(value) for value in (None, True, "soon", float("nan"), 1e20, [])] == [None] * 6


def test_count_waiting_and_delayed_jobs():
    Job.add_job(identifier="1", queue_name="a", priority=1)
    Job.add_job(identifier="2", queue_name="a", priority=2)
    Job.add_job(identifier="3", queue_name="b")
    Job.add_job(identifier="4", queue_name="a", delayed_for=60)
    assert Queue.count_waiting_jobs("a") == 2
    assert Queue.count_waiting_jobs(["a", "b"]) == 3
    assert Queue.count_delayed_jobs("a") == 1
    assert Queue.count_delayed_jobs("b") == 0


def test_enqueue_job_and_delay_job(clock):
    queue = Queue.get_queue("q")
    job = Job(identifier="job:1")
    queue.enqueue_job(job)
    other = Job(identifier="job:2")
    queue.enqueue_job(other, prepend=True)
    assert queue.waiting.lmembers() == [other.ident, job.ident]
    queue.delay_job(job, clock.now() - timedelta(seconds=1))  # even a past date delays
    assert job.status.hget() == STATUSES.DELAYED
    assert queue.waiting.lmembers() == [other.ident]
    assert queue.delayed.zrange(0, -1) == [job.ident]


def test_requeue_delayed_jobs_moves_due_jobs_and_keeps_canceled_status(clock):
    queue = Queue.get_queue("q")
    due = Job(identifier="due")
    queue.delay_job(due, clock.now() - timedelta(seconds=1))
    canceled = Job(identifier="canceled")
    queue.delay_job(canceled, clock.now() - timedelta(seconds=1))
    canceled.status.hset(STATUSES.CANCELED)
    later = Job(identifier="later")
    queue.delay_job(later, clock.now() + timedelta(hours=1))
    queue.delayed.zadd({"limpyd_jobs.models.Job:999": 1})  # a job that no longer exists
    failures = queue.requeue_delayed_jobs()
    assert failures == [("limpyd_jobs.models.Job:999", "job does not exist")]
    assert sorted(queue.waiting.lmembers()) == sorted([due.ident, canceled.ident])
    assert due.status.hget() == STATUSES.WAITING
    assert canceled.status.hget() == STATUSES.CANCELED
    assert queue.delayed.zrange(0, -1) == [later.ident]
    assert set(Job.collection(status=STATUSES.WAITING)) == {due.pk.get()}


# --- Error


def test_add_error_records_the_exception():
    job = Job.add_job(identifier="job:1", queue_name="q")
    when = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=timezone.utc)
    error = Error.add_error("q", job, CodedError("teapot"), when=when, trace="Traceback...")
    assert error.job_model_repr.hget() == "limpyd_jobs.models.Job"
    assert error.job_pk.hget() == job.pk.get()
    assert error.identifier.hget() == "job:1"
    assert error.queue_name.hget() == "q"
    assert error.type.hget() == "CodedError"
    assert error.code.hget() == "418"
    assert error.message.hget() == "teapot"
    assert error.traceback.hget() == "Traceback..."
    assert error.date_time.hget() == "2026-03-04 05:06:07"
    assert error.date.hget() == "2026-03-04"
    assert error.time.hget() == "05:06:07"
    assert error.datetime == when.replace(microsecond=0, tzinfo=None)  # naive UTC, as stored


def test_add_error_without_code_and_filters():
    job = Job.add_job(identifier="job:1", queue_name="q")
    error = Error.add_error("q", job, ValueError("bad"))
    assert error.code.hget() is None
    assert list(Error.collection(type="ValueError")) == [error.pk.get()]
    assert list(Error.collection(date_time__gte="2020-01-01")) == [error.pk.get()]
    assert list(Error.collection(date_time__lt="2020-01-01")) == []


def test_collection_for_job_covers_every_job_with_that_identifier():
    first = Job.add_job(identifier="job:1", queue_name="q")
    e1 = Error.add_error("q", first, ValueError("1"))
    first.queued.hdel()
    second = Job.add_job(identifier="job:1", queue_name="q")
    e2 = Error.add_error("q", second, ValueError("2"))
    Error.add_error("q", Job.add_job(identifier="job:2", queue_name="q"), ValueError("3"))
    assert set(Error.collection_for_job(second)) == {e1.pk.get(), e2.pk.get()}


def test_error_subclass_additional_fields():
    job = Job.add_job(identifier="job:1", queue_name="q")
    error = DetailedError.add_error("q", job, ValueError("x"), worker_note="note")
    assert list(DetailedError.collection(worker_note="note")) == [error.pk.get()]


# --- add_jobs (bulk)


def test_add_jobs_creates_jobs_like_add_job():
    jobs = Job.add_jobs(["a", "b", {"identifier": "c", "priority": 2}], queue_name="q")
    assert [job.identifier.hget() for job in jobs] == ["a", "b", "c"]
    assert waiting("q", 0) == [jobs[0].ident, jobs[1].ident]
    assert waiting("q", 2) == [jobs[2].ident]
    for job in jobs:
        assert job.status.hget() == STATUSES.WAITING and job.queued.hget() == "1"
        assert job.added.hget() and job.queue_key.hget()
    assert set(Job.collection(status=STATUSES.WAITING, queued=1)) == {job.pk.get() for job in jobs}
    assert list(Job.collection(priority=2)) == [jobs[2].pk.get()]
    assert list(Job.collection(identifier="b")) == [jobs[1].pk.get()]


def test_add_jobs_follows_add_job_rules_for_queued_identifiers():
    existing = Job.add_job(identifier="a", queue_name="q", priority=1)
    jobs = Job.add_jobs([{"identifier": "a", "priority": 3}, "b", {"identifier": "b", "priority": 5}],
                        queue_name="q")
    assert jobs[0] == existing and existing.priority.hget() == "3"
    assert jobs[1] == jobs[2] and jobs[1].priority.hget() == "5"  # a repeat: one job, higher priority
    assert waiting("q", 1) == []
    assert waiting("q", 3) == [existing.ident]
    assert waiting("q", 5) == [jobs[1].ident]
    assert len(Job.collection()) == 2


def test_add_jobs_delays_prepends_and_sets_fields():
    first = Job.add_job(identifier="first", queue_name="resize", queue_model=NamedQueue)
    jobs = ResizeJob.add_jobs([{"identifier": "p1", "size": "1x1", "owner": "bob"},
                               {"identifier": "p2", "delayed_for": 60},
                               {"identifier": "p3", "prepend": True}])
    assert jobs[0].size.hget() == "1x1" and jobs[1].size.hget() == "100x100"
    assert list(ResizeJob.collection(owner="bob")) == [jobs[0].pk.get()]
    assert jobs[1].status.hget() == STATUSES.DELAYED
    assert list(ResizeJob.collection(status=STATUSES.DELAYED)) == [jobs[1].pk.get()]
    queue = NamedQueue.get_queue("resize")
    assert queue.waiting.lmembers() == [jobs[2].ident, first.ident, jobs[0].ident]
    assert queue.delayed.zrange(0, -1) == [jobs[1].ident]
    assert queue.description.hget() == "no description"


def test_add_jobs_gives_every_plain_identifier_the_same_options_and_merges_repeats(clock):
    jobs = ResizeJob.add_jobs([{"identifier": "p1", "priority": 2}, "p1", "p2", "p2", "p3"], delayed_for=60,
                              prepend=True, size="2x2")
    assert jobs[0] == jobs[1] and jobs[2] == jobs[3]
    assert len({job.pk.get() for job in jobs}) == 3
    assert jobs[0].priority.hget() == "2"  # the repeat with a lower priority keeps the higher
    assert jobs[2].priority.hget() == "0"
    for job in (jobs[0], jobs[2], jobs[4]):
        assert job.status.hget() == STATUSES.DELAYED and job.size.hget() == "2x2"
    assert len({job.delayed_until.hget() for job in jobs}) == 1
    assert str_to_datetime(jobs[2].delayed_until.hget()) == clock.now() + timedelta(seconds=60)


def test_add_jobs_in_chunks_is_one_round_trip_per_chunk(round_trips):
    Job.add_job(identifier="warm-up", queue_name="q")
    with round_trips() as trips:
        jobs = Job.add_jobs([f"job:{number}" for number in range(25)], queue_name="q", chunk_size=10)
    assert trips.commands == ["EVALSHA"] * 3
    assert len({job.pk.get() for job in jobs}) == 25
    assert Queue.count_waiting_jobs("q") == 26


def test_add_jobs_rejects_bad_items_before_writing_anything():
    with pytest.raises(ValueError, match="identifier"):
        Job.add_jobs(["a", {"priority": 1}], queue_name="q")
    with pytest.raises(InvalidDelay):
        Job.add_jobs(["a", {"identifier": "b", "delayed_for": "soon"}], queue_name="q")
    with pytest.raises(LimpydJobsException, match="queue name"):
        Job.add_jobs(["a"])
    assert len(Job.collection()) == 0


# --- retention of finished jobs


def test_purge_finished_keeps_the_latest_and_deletes_the_rest_with_their_errors(connection):
    jobs = [Job.add_job(identifier=f"job:{number}", queue_name="q") for number in range(5)]
    run_jobs(4)
    failed = jobs[4]
    run_jobs(1, fail)
    assert len(Error.collection_for_job(failed)) == 1
    queue = Queue.get_queue("q")
    assert queue.purge_finished(keep=2) == 2
    assert queue.success.lmembers() == [jobs[2].ident, jobs[3].ident]
    assert not Job.exists(pk=jobs[0].pk.get()) and not Job.exists(pk=jobs[1].pk.get())
    assert set(Job.collection(identifier="job:0")) == set()
    assert jobs[0].pk.get() not in Job.collection(status=STATUSES.SUCCESS)
    assert queue.purge_finished(keep=0) == 3  # the 2 other successes and the failed job
    assert len(Error.collection()) == 0
    assert len(Job.collection()) == 0
    assert [key for key in connection.keys("jobs:job:*") if not key.endswith(("max_pk",))] == []


def test_purge_finished_by_age_and_never_a_queued_job(clock):
    old = Job.add_job(identifier="old", queue_name="q")
    run_jobs(1)  # ends now
    clock.advance(3 * 86400)
    requeued = Job.add_job(identifier="requeued", queue_name="q")
    run_jobs(1, fail, requeue_times=1, requeue_delay_delta=0)  # failed once: in errors, still queued
    recent = Job.add_job(identifier="recent", queue_name="q")  # priority 0: before the requeued one (-1)
    run_jobs(1)
    queue = Queue.get_queue("q")
    assert queue.purge_finished(keep=None, older_than=timedelta(days=1)) == 1
    assert not Job.exists(pk=old.pk.get())
    assert Job.exists(pk=recent.pk.get()) and Job.exists(pk=requeued.pk.get())
    assert queue.errors.lmembers() == [requeued.ident]
    assert requeued.status.hget() == STATUSES.WAITING and requeued.queued.hget() == "1"


def test_purge_finished_cleans_subclass_indexes():
    job = ResizeJob.add_job(identifier="photo:1", owner="carol")
    run_jobs(1, queues="resize", queue_model=NamedQueue)
    assert job.status.hget() == STATUSES.SUCCESS
    queue = NamedQueue.get_queue("resize")
    assert queue.purge_finished(keep=0) == 1
    assert list(ResizeJob.collection(owner="carol")) == []
