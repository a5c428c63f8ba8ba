"""The app's config: points the models at ``LIMPYD_JOBS["database"]`` and checks the setting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from limpyd_jobs.contrib.django.options import SETTING_NAME, check_keys
from limpyd_jobs.databases import use_database
from limpyd_jobs.exceptions import ConfigurationException


def configured() -> Any:
    """``settings.LIMPYD_JOBS``, or an empty dict when the project has none."""
    return getattr(settings, SETTING_NAME, {})


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """System check (``manage.py check``): ``settings.LIMPYD_JOBS`` holds only worker options."""
    try:
        check_keys(configured())
    except ConfigurationException as exc:
        return [checks.Error(str(exc), id="limpyd_jobs.E001")]
    return []


class LimpydJobsConfig(AppConfig):
    """limpyd-jobs in a Django project: ``manage.py limpyd_jobs_worker``, and the models on the
    Redis database of ``settings.LIMPYD_JOBS`` in every process."""

    name = "limpyd_jobs.contrib.django"
    label = "limpyd_jobs"
    verbose_name = "limpyd-jobs"

    def ready(self) -> None:
        checks.register(check_settings)
        config = configured()
        database = config.get("database") if isinstance(config, Mapping) else None
        if database:
            try:
                use_database(str(database))
            except ConfigurationException as exc:
                raise ImproperlyConfigured(f"settings.{SETTING_NAME}['database']: {exc}") from None
