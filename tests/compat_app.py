"""An application written against redis-limpyd-jobs 2, for tests/test_compat.py: the subclasses
such an application declares at module level (as the seed asks of Job subclasses), a WorkerConfig
subclass doing setup work first, and a callback recording what ran."""

from __future__ import annotations

from limpyd import fields
from limpyd.contrib.indexes import SimpleDateTimeIndex
from limpyd.indexes import TextRangeIndex
from limpyd_extensions import related

from limpyd_jobs import Error, Job, Queue
from limpyd_jobs.models import BaseJobsModel
from limpyd_jobs.workers import Worker, WorkerConfig

# --- what ran, and the setup done by MyWorkerConfig

RAN: list[str] = []
SETUP_CALLS: list[str] = []


def record_callback(job, queue):
    """A worker callback: note the ident of the job it was given."""
    RAN.append(job.ident)
    return "recorded"


# --- models


class SomeJob(Job):
    """A Job subclass in the default namespace ('jobs'), as a v2 application declares one: its
    jobs are stored under ``jobs:somejob`` and queued as ``compat_app.SomeJob:<pk>``."""

    payload = fields.InstanceHashField()


class RichJob(Job):
    """A Job subclass with a field of each kind add_job must fill."""

    namespace = "compat"
    queue_name = "rich"

    plain = fields.InstanceHashField()
    text = fields.StringField()
    indexed = fields.InstanceHashField(indexable=True)
    when = fields.InstanceHashField(indexable=True, indexes=[SimpleDateTimeIndex])
    label = fields.InstanceHashField(indexable=True, indexes=[TextRangeIndex])
    code = fields.InstanceHashField(unique=True)
    tags = fields.SetField()
    steps = fields.ListField()


class Owner(related.RelatedModel):
    """A model of the application, other side of OwnedJob.owner (same database as the jobs)."""

    database = BaseJobsModel.database
    namespace = "compat"

    name = fields.InstanceHashField(indexable=True)


class OwnedJob(Job):
    """A Job subclass with a foreign key to Owner: ``owner.owned_jobs()`` lists its jobs."""

    namespace = "compat"

    owner = related.FKInstanceHashField(Owner, related_name="owned_jobs")


class CompatQueue(Queue):
    namespace = "compat"


class CompatError(Error):
    namespace = "compat"


class CompatWorker(Worker):
    """A Worker subclass with its own models: the defaults of --queue-model and --error-model."""

    queue_model = CompatQueue
    error_model = CompatError


# --- the command


class MyWorkerConfig(WorkerConfig):
    """Written as the seed shows it (``django.setup()`` stands as SETUP_CALLS.append)."""

    def __init__(self, argv=None):
        SETUP_CALLS.append("setup")
        super().__init__(argv)
