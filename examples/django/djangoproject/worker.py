"""Running the plain ``limpyd-jobs-worker`` command in this project, as redis-limpyd-jobs documents::

    limpyd-jobs-worker --pythonpath=. --worker-config=djangoproject.worker.DjangoWorkerConfig \
        --worker-class=limpyd_jobs.contrib.django.worker.DjangoWorker \
        --queues=photos --callback=photos.jobs.resize

(``manage.py limpyd_jobs_worker`` does the same with less to type.)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import IO

import django

from limpyd_jobs.workers import WorkerConfig


class DjangoWorkerConfig(WorkerConfig):
    """Sets Django up before anything else.

    This is done in ``__init__``, before ``super().__init__``: that is where the options are
    parsed, and the callback (``photos.jobs.resize``, which imports Django models) imported.
    Doing it in ``execute()`` is too late: the import has already failed.
    """

    def __init__(self, argv: Sequence[str] | None = None, stdout: IO[str] | None = None) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoproject.settings")
        django.setup()
        super().__init__(argv, stdout)
