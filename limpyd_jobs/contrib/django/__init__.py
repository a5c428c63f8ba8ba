"""A Django app for limpyd-jobs: add ``"limpyd_jobs.contrib.django"`` to ``INSTALLED_APPS``.

It gives ``manage.py limpyd_jobs_worker``, a ``limpyd-jobs-worker`` run with Django set up, whose
options default to ``settings.LIMPYD_JOBS`` (a dict of worker options by name, e.g.
``{"queues": "photos", "callback": "photos.jobs.resize", "database": "redis://localhost:6379/15"}``).
When that dict has a ``database``, every process of the project (web ones too, where
``Job.add_job_on_commit`` adds jobs) uses it, so jobs go where the workers look for them.
"""
