"""What a view would call."""

from django.db import transaction

from limpyd_jobs import Job

from .models import Photo
from .tasks import resize


def add_photo(path: str) -> Photo:
    """Save a photo and have it resized by a worker, with Django's task framework.

    The backend enqueues at the commit (``OPTIONS["enqueue_on_commit"]`` in the settings): a
    worker that took the task earlier would not find the photo, and a rollback enqueues nothing.
    """
    with transaction.atomic():
        photo = Photo.objects.create(path=path)
        resize.enqueue(photo.pk)
    return photo


def add_photo_with_a_job(path: str) -> Photo:
    """The same with an identifier job (the photo's pk) and the ``photos.jobs.resize`` callback,
    as projects did before tasks: ``Job.add_job_on_commit`` adds it at the commit."""
    with transaction.atomic():
        photo = Photo.objects.create(path=path)
        Job.add_job_on_commit(identifier=str(photo.pk), queue_name="photos")
    return photo
