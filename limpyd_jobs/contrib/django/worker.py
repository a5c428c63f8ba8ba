"""A worker for Django projects: database connections handled around each job as Django handles
them around each request (``manage.py limpyd_jobs_worker`` runs it unless told otherwise)."""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections

from limpyd_jobs.workers import Worker
from limpyd_jobs.workers.observers import WorkerObserver


class CloseOldConnections(WorkerObserver):
    """Closes the database connections that failed or outlived ``CONN_MAX_AGE``, before and after
    each job: a long-running worker never runs a job on a connection the server dropped."""

    def before_run(self, worker: Any, attempt: Any) -> None:
        close_old_connections()

    def after_run(self, worker: Any, attempt: Any, error: BaseException | None) -> None:
        close_old_connections()


class DjangoWorker(Worker):
    """``Worker``, with ``CloseOldConnections`` among its observers."""

    observers = (CloseOldConnections(),)
