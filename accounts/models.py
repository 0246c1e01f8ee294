"""Numina's user: Django's user with a UUID id, since every id the API shows is a UUID."""

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    def __str__(self) -> str:
        return self.username


class DeviceName(models.Model):
    """The device an API token was issued to ("Pixel 9"), shown when listing a user's tokens.

    A side table rather than a swapped knox token model: knox's own migrations create its
    table even when swapped, which would leave a table Django does not know about.
    """

    token = models.OneToOneField(
        "knox.AuthToken", on_delete=models.CASCADE, primary_key=True, related_name="device"
    )
    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name
