"""A WorkerConfig subclass doing setup work first, as a Django project would (django.setup())."""

from __future__ import annotations

from limpyd_jobs.workers import Worker, WorkerConfig

SETUP_CALLS = []


class SetupWorkerConfig(WorkerConfig):
    def __init__(self, argv=None, stdout=None):
        SETUP_CALLS.append("setup")  # stands for django.setup()
        super().__init__(argv, stdout)


class CountingWorker(Worker):
    """A Worker subclass for --worker-class."""

    instances = 0

    def __init__(self, *args, **kwargs):
        CountingWorker.instances += 1
        super().__init__(*args, **kwargs)


class NotAConfig:
    pass
