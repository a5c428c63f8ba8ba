"""Settings of the example project: a ``photos`` app whose photos are resized by limpyd-jobs workers.

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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("PHOTOS_SQLITE_PATH",
                               os.path.join(tempfile.gettempdir(), "limpyd-jobs-photos.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# The options of `manage.py limpyd_jobs_worker` (those of limpyd-jobs-worker, by name); the
# command line wins. "database" is also where Job.add_job... adds jobs, in every process.
LIMPYD_JOBS = {
    "queues": "photos",
    "callback": "photos.jobs.resize",
    "database": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
    "requeue_times": 3,
}
