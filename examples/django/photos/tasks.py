"""The tasks of the photos app: ``manage.py limpyd_jobs_worker`` imports this module and runs them."""

try:
    from django.tasks import task  # Django 6+
except ImportError:
    from django_tasks import task  # the django-tasks backport, on Django 4.2 to 5.2

from .models import Photo


@task(queue_name="photos")
def resize(photo_id: int) -> str:
    """Resize a photo (here: just mark it resized); its path is the task's result."""
    photo = Photo.objects.get(pk=photo_id)
    # ... the real resizing of photo.path would go here ...
    photo.resized = True
    photo.save(update_fields=["resized"])
    return photo.path
