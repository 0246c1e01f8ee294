"""Numina's user: Django's user with a UUID id, since every id the API shows is a UUID."""

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from knox.models import AbstractAuthToken


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    def __str__(self) -> str:
        return self.username


class DeviceToken(AbstractAuthToken):
    """An API token for one device: stored as a digest (knox), expiring, revocable alone."""

    device_name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["user", "created"], name="devicetoken_user_created")]
