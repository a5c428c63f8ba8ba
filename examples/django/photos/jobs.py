"""The callback of the workers of the ``photos`` queue."""

from limpyd_jobs import Job, Queue

from .models import Photo


def resize(job: Job, queue: Queue) -> str:
    """Resize the photo whose pk is the job's identifier (here: just mark it resized)."""
    photo = Photo.objects.get(pk=int(job.identifier.hget()))
    # ... the real resizing of photo.path would go here ...
    photo.resized = True
    photo.save(update_fields=["resized"])
    return photo.path
