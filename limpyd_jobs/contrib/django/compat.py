"""Django's task framework: ``django.tasks`` (Django 6+) if there, else the ``django-tasks`` backport.

Every name the backend uses is imported here, under Django 6's names.
"""

from __future__ import annotations

try:  # Django 6+
    from django.tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import Task, TaskError
    from django.tasks.exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
except ImportError:  # the backport, on Django 4.2 to 5.2
    try:
        from django_tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import Task, TaskError
        from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.exceptions import TaskResultDoesNotExist
        from django_tasks.signals import task_enqueued, task_finished, task_started
        from django_tasks.utils import normalize_json
    except ImportError as exc:
        raise ImportError("limpyd_jobs.contrib.django.tasks needs Django 6 (django.tasks) or, on an "
                          f"earlier Django, the django-tasks package: {exc}") from exc

__all__ = ["BaseTaskBackend", "InvalidTask", "InvalidTaskBackend", "Task", "TaskContext", "TaskError",
           "TaskResult", "TaskResultDoesNotExist", "TaskResultStatus", "normalize_json", "task_backends",
           "task_enqueued", "task_finished", "task_started"]
