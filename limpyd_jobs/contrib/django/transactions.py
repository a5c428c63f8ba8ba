"""Adding jobs with a Django transaction: once it commits, nothing if it rolls back."""

from __future__ import annotations

from typing import Any

from django.db import transaction


def add_job_on_commit(model: Any, using: str | None = None, **kwargs: Any) -> None:
    """``model.add_job(**kwargs)`` once the current transaction of database ``using`` commits
    (at once outside one); nothing if it rolls back."""
    transaction.on_commit(lambda: model.add_job(**kwargs), using=using)
