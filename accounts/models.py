"""Numina's user: Django's user with a UUID id, since every id the API shows is a UUID."""

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.dispatch import Signal

# Sent by User.save once a changed password is stored (keyword: user). The services
# connect signing out every device to it (accounts/apps.py), so this module, which the
# services import, imports none of them.
password_saved = Signal()


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Memory across conversations (memory/): off, nothing is extracted and nothing sent.
    memory_enabled = models.BooleanField(default=True)
    # Raised by every change to the user's memory (memory/services.py): the cached model
    # contexts carry it in their key, so a deleted item is gone from the next context.
    memory_revision = models.PositiveBigIntegerField(default=0)

    def save(self, *args, **kwargs) -> None:
        # set_password() keeps the raw password until the save (Django's own
        # password_changed hook reads it the same way). Every door that changes a password
        # — the account page, the admin, reset, changepassword — passes here, so none can
        # leave a stolen device signed in.
        password_changed = getattr(self, "_password", None) is not None and not self._state.adding
        super().save(*args, **kwargs)
        if password_changed:
            password_saved.send(sender=type(self), user=self)

    def __str__(self) -> str:
        return self.username


class DeviceName(models.Model):
    """The device an API token was issued to ("Pixel 9"), shown when listing a user's tokens.

    Every token has one (the name may be empty): ``device_id`` is the UUID the API and the
    account page show for it, since the token's own key is its secret's digest.

    A side table rather than a swapped knox token model: knox's own migrations create its
    table even when swapped, which would leave a table Django does not know about.
    """

    token = models.OneToOneField(
        "knox.AuthToken", on_delete=models.CASCADE, primary_key=True, related_name="device"
    )
    name = models.CharField(max_length=100, blank=True)
    device_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    def __str__(self) -> str:
        return self.name


def signed_in_user(request) -> User:
    """The request's user where a login or IsAuthenticated check has already run: the type
    checker cannot know that, so it is said once here rather than cast at every view."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionError("signed_in_user() behind a view that lets anonymous users in")
    return user
