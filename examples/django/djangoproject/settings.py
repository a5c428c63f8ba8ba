"""Settings of the example project: a ``photos`` app whose photos are resized by a task, run by
``manage.py limpyd_jobs_worker``.

``PHOTOS_SQLITE_PATH`` sets where the SQLite database is (default: in the temp dir);
``REDIS_URL`` the Redis of the jobs (default: localhost:6379 database 0).
"""

import os
import tempfile

SECRET_KEY = "example-project-only"  # never use this one for a real site
DEBUG = True
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "limpyd_jobs.contrib.django",  # manage.py limpyd_jobs_worker
    "photos",
]
try:
    import django.tasks  # noqa: F401  (Django 6+: the task framework is Django's own)
except ImportError:
    INSTALLED_APPS.insert(0, "django_tasks")  # on Django 4.2 to 5.2, the django-tasks backport

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PHOTOS_SQLITE_PATH",
                               os.path.join(tempfile.gettempdir(), "limpyd-jobs-photos.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
# Django sets the process's time zone to this one: the worker's log lines are in it (Django's
# default, America/Chicago, surprises). Put yours.
TIME_ZONE = "UTC"

# Django's task framework, on limpyd-jobs: tasks enqueued at the commit of their transaction,
# retried 3 times, 10 s apart (each of these options can be given per task, see the README).
TASKS = {
    "default": {
        "BACKEND": "limpyd_jobs.contrib.django.tasks.LimpydJobsBackend",
        "QUEUES": ["default", "photos"],
        "OPTIONS": {"enqueue_on_commit": True, "retries": 3, "retry_delay": 10},
    },
}

# The options of `manage.py limpyd_jobs_worker` (those of limpyd-jobs-worker, by name); the
# command line wins. Its queues default to the QUEUES of TASKS. "database" is where tasks and
# jobs are, for every process. The callback serves identifier jobs (add_photo_with_a_job).
LIMPYD_JOBS = {
    "callback": "photos.jobs.resize",
    "database": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
    "requeue_times": 3,
}
