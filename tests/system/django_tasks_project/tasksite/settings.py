"""A project whose tasks run on LimpydJobsBackend: the tests' (SQLite and Redis from the environment).

``TASKS_SQLITE_PATH``: the SQLite file; ``REDIS_URL``: the Redis of the jobs; ``TASKS_OPTIONS``:
the backend's OPTIONS, as JSON (default: none).
"""

import json
import os

SECRET_KEY = "tests-only"
DEBUG = True
ALLOWED_HOSTS: list[str] = []
USE_TZ = True
TIME_ZONE = "Europe/Paris"

INSTALLED_APPS = ["limpyd_jobs.contrib.django", "shop"]
try:
    import django.tasks  # noqa: F401  (Django 6+)
except ImportError:
    INSTALLED_APPS.insert(0, "django_tasks")  # the backport

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["TASKS_SQLITE_PATH"]},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["TASKS_SQLITE_PATH"] + ".other"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "limpyd_jobs.contrib.django.tasks.LimpydJobsBackend",
        "QUEUES": ["default", "mail"],
        "OPTIONS": json.loads(os.environ.get("TASKS_OPTIONS") or "{}"),
    },
}
LIMPYD_JOBS = {"database": os.environ["REDIS_URL"]}
