"""Accounts: sign-up and API tokens (one per device, hashed, expiring — django-rest-knox).

Usernames go through ``User.normalize_username`` (NFKC) here, as Django's forms do for the
browser: a fullwidth "ada" is the plain "ada" at sign-up and at log-in, whichever door is used.
"""

import uuid
from datetime import datetime

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from knox.models import get_token_model

from . import selectors
from .models import DeviceName, User

BAD_CREDENTIALS = "Unable to log in with provided credentials."


@transaction.atomic
def register_user(*, username: str, password: str, email: str = "") -> User:
    username = User.normalize_username(username)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": ["A user with that username already exists."]})
    user = User(username=username, email=email)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent sign-up took the name between check and insert
        raise ValidationError({"username": ["A user with that username already exists."]}) from None
    return user


@transaction.atomic
def issue_token(*, user: User, device_name: str = "") -> tuple[str, datetime | None]:
    """A new token for one device; only its digest is stored, the token is shown once."""
    tokens = get_token_model().objects
    tokens.filter(user=user, expiry__lt=timezone.now()).delete()  # see accounts/auth.py
    instance, token = tokens.create(user=user)
    # Every token has its device row: its public id is what lists and revokes it.
    DeviceName.objects.create(token=instance, name=device_name[:100])
    return token, instance.expiry


def log_in(*, username: str, password: str) -> User:
    """The user for these credentials; the same error whether or not the user exists."""
    user = authenticate(username=User.normalize_username(username), password=password)
    if user is None or not user.is_active:
        raise ValidationError({"non_field_errors": [BAD_CREDENTIALS]})
    return user


def revoke_token(*, token) -> None:
    token.delete()


def revoke_all_tokens(*, user: User) -> None:
    """Every device signed out: log-out-all, and every password change (User.save)."""
    get_token_model().objects.filter(user=user).delete()


def revoke_all_tokens_after_password_saved(*, user: User, **signal: object) -> None:
    """``models.password_saved``'s receiver (accounts/apps.py): a new password signs every
    device out, whichever door changed it."""
    revoke_all_tokens(user=user)


def revoke_device(*, user: User, device_id: uuid.UUID | str) -> None:
    """That device's token stops working; another user's device or no such device is
    DeviceName.DoesNotExist (a 404), and so is an id that is not a UUID."""
    device = selectors.device_for(user=user, device_id=device_id)
    device.token.delete()
