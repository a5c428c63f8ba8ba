"""Pointing the models at a Redis given as text (``--database``, a dashboard's setting)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .connection import settings_from_string
from .exceptions import ConfigurationException
from .models import BaseJobsModel


def use_database(value: str | None, models: Iterable[type] = (BaseJobsModel,)) -> None:
    """Point the databases of these models at ``value`` (host:port:db or a URL), if given; if
    not, read their settings now (``REDIS_URL``), rather than when first used.

    Raises ConfigurationException naming ``--database`` (or ``REDIS_URL``) when it cannot be read."""
    if not value:
        for database in databases_of(models):
            database.connection_settings  # noqa: B018 - read now: a malformed REDIS_URL is said here
        return
    try:
        settings = settings_from_string(value)
    except ConfigurationException as exc:
        raise ConfigurationException(f"argument --database: {exc}") from None
    for database in databases_of(models):
        database.reset(**settings)


def databases_of(models: Iterable[type]) -> list[Any]:
    """The databases of these models, each once."""
    return list({id(model.database): model.database for model in models}.values())
