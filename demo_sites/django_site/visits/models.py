from typing import ClassVar

from django.db import models


class Visit(models.Model):
    """One view of the home page: when, and which gunicorn worker served it."""

    at = models.DateTimeField(auto_now_add=True)
    worker = models.PositiveIntegerField()

    class Meta:
        ordering: ClassVar[list[str]] = ["-at"]
