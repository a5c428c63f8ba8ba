"""What a view would call."""

from django.db import transaction

from limpyd_jobs import Job

from .models import Photo


def add_photo(path: str) -> Photo:
    """Save a photo and have it resized by a worker.

    The job is added once the transaction commits: a worker that took it earlier would not find
    the photo (Photo.DoesNotExist), and a transaction that rolls back adds no job at all.
    """
    with transaction.atomic():
        photo = Photo.objects.create(path=path)
        Job.add_job_on_commit(identifier=str(photo.pk), queue_name="photos")
    return photo
