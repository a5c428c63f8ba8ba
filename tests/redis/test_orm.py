"""The boundary around redis-limpyd: what it builds behaves like what limpyd builds."""

from __future__ import annotations

import threading

import pytest
from limpyd.exceptions import DoesNotExist
from sample_jobs import NamedQueue, ResizeJob

from limpyd_jobs import STATUSES, Job, Queue, orm
from limpyd_jobs.recurring.scheduler import RecurringSchedule, set_schedule


@pytest.fixture
def jobs():
    """The same job twice: built by limpyd (``Job(pk)``) and by the fast path."""
    job = ResizeJob.add_job(identifier="photo:1", owner="alice", size="10x10")
    return ResizeJob(job.pk.get()), orm.instance(ResizeJob, job.pk.get())


def test_a_fast_path_instance_reads_like_a_limpyd_one(jobs):
    limpyd_built, fast = jobs
    assert fast == limpyd_built and hash(fast) == hash(limpyd_built)
    assert fast.pk.get() == limpyd_built.pk.get()
    for field in ("identifier", "owner", "size", "status", "queued", "added"):
        assert fast.get_field(field).hget() == getattr(limpyd_built, field).hget()
    assert fast.hmget("identifier", "size") == limpyd_built.hmget("identifier", "size")
    assert fast.hmget("identifier", "size") == ["photo:1", "10x10"]
    assert fast.ident == limpyd_built.ident
    assert fast.connected


def test_a_fast_path_instance_is_found_by_collections_and_filters(jobs):
    limpyd_built, fast = jobs
    fast.status.hset(STATUSES.CANCELED)  # written through the fast path: indexes follow
    assert list(ResizeJob.collection(status=STATUSES.CANCELED)) == [fast.pk.get()]
    assert ResizeJob.collection(owner="alice", status=STATUSES.CANCELED).instances() == [limpyd_built]
    assert ResizeJob.get(identifier="photo:1") == fast
    assert limpyd_built.status.hget() == STATUSES.CANCELED


def test_a_fast_path_instance_deletes_like_a_limpyd_one(jobs, connection):
    _, fast = jobs
    pk = fast.pk.get()
    fast.delete()
    assert not ResizeJob.exists(pk=pk)
    assert list(ResizeJob.collection(owner="alice")) == []
    assert list(ResizeJob.collection(identifier="photo:1")) == []
    with pytest.raises(DoesNotExist):
        ResizeJob(pk)


def test_fields_are_made_on_first_use_and_errors_stay_attribute_errors():
    job = Job.add_job(identifier="job:1", queue_name="q")
    assert "identifier" not in vars(job)
    assert job.identifier.hget() == "job:1"
    assert "identifier" in vars(job)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        job.nope  # noqa: B018
    assert not hasattr(job, "_private")


@pytest.mark.parametrize("model", [ResizeJob, NamedQueue, RecurringSchedule])
def test_a_field_made_on_first_use_is_what_limpyd_makes(model):
    built = orm.instance(model, "1")
    limpyd_built = model.lazy_connect("1")
    for name in model._fields:
        made, expected = built.get_field(name), limpyd_built.get_field(name)
        assert type(made) is type(expected), name
        attributes = {key: value for key, value in vars(made).items() if key != "_call_command"}
        wanted = {key: value for key, value in vars(expected).items() if key != "_instance"}
        assert attributes.pop("_instance") is built
        attributes.pop("_creation_order"), wanted.pop("_creation_order")  # a counter of limpyd's
        wanted.pop("_indexes", None)  # cached on first use: the model field's, in both
        attributes.pop("_indexes", None)
        assert attributes == wanted, name
        assert made._indexes == expected._indexes, name


def test_a_model_with_a_named_pk_field_works_through_the_fast_path():
    set_schedule("report:daily", "NOW")
    schedule = orm.instance(RecurringSchedule, "report:daily")
    assert schedule.pk.get() == schedule.job_id.get() == "report:daily"
    assert schedule.queue_name.hget() == "daily"
    assert list(RecurringSchedule.collection(queue_name="daily")) == ["report:daily"]


def test_a_queue_created_by_a_script_gets_its_subclass_fields():
    assert NamedQueue.get_queue("q", description="mine").description.hget() == "mine"
    assert NamedQueue.get_queue("r").description.hget() == "no description"  # the default
    assert Queue.get_queue("q").priority.hget() == "0"


def test_the_kept_connection_goes_back_to_its_pool_when_its_thread_ends(database):
    pool = database.connection.connection_pool  # redis-py has no public view of a pool's connections
    kept = []

    def use_a_script():
        Job.add_job(identifier="from-a-thread", queue_name="q")
        kept.append(orm.kept_connection(database.connection))
        assert kept[0] in pool._in_use_connections

    thread = threading.Thread(target=use_a_script)
    thread.start()
    thread.join(10)
    assert len(kept) == 1, "the thread failed"
    assert kept[0] not in pool._in_use_connections
    assert kept[0] in pool._available_connections


def test_a_scanned_index_filters_across_chunks_and_leaves_no_key(connection, monkeypatch):
    monkeypatch.setattr(orm.ScannedIndex, "chunk", 3)  # several round trips of hashes
    jobs = Job.add_jobs([{"identifier": f"job:{number}", "priority": number % 3} for number in range(10)],
                        queue_name="q")
    keys = set(connection.keys("*"))
    expected = {job.pk.get() for number, job in enumerate(jobs) if number % 3 == 2}
    assert set(Job.collection(priority=2)) == expected
    assert set(Job.collection(priority__in=[2, "1"])) == {job.pk.get() for number, job in enumerate(jobs)
                                                          if number % 3}
    assert Job.collection(priority=2, identifier="job:5").instances() == [jobs[5]]
    assert list(Job.collection(priority__in=[])) == []
    assert set(connection.keys("*")) == keys  # the temporary sets are gone
