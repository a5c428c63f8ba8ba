from django.db import models


class Photo(models.Model):
    """A photo to resize: a job does it after it is saved."""

    path = models.CharField(max_length=255)
    resized = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.path
