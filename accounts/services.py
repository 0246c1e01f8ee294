"""Accounts: sign-up, API tokens (one per device, hashed, expiring — django-rest-knox) and
leaving (the account and everything it owns deleted).

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
WRONG_PASSWORD = "That is not your password; nothing was deleted."  # noqa: S105 (a message, not a password)


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


def delete_account(*, user: User, password: str) -> None:
    """The account and everything it owns, gone for good, once its password is given:
    conversations (trashed ones too), messages, summaries, tags, tombstones, the change
    counter, message batches, token usage, memory items (and their conversations' marks),
    API tokens and their devices — every model with a foreign key to the user goes with it
    by cascade, in one transaction — and the rows
    that name the owner without a key (``PendingInvalidation``). After the commit, their
    Redis entries: cached lists and conversations, rendered messages, stream slots.

    A wrong password is a ``ValidationError`` on ``password`` and deletes nothing. Open
    API streams of the user end on their own: the next request or heartbeat finds no token.
    """
    # Local imports: the conversations app imports this module (its API names ours).
    from conversations import access, cache, rendering, streams
    from conversations.models import PendingInvalidation
    from conversations.services import files

    if not user.check_password(password):
        raise ValidationError({"password": [WRONG_PASSWORD]})
    owner_id = user.pk
    with transaction.atomic():
        # The row lock orders this after any password change or other deletion underway.
        user = User.objects.select_for_update().get(pk=owner_id)
        # Their ids, for the rendered-HTML entries keyed by message, not by owner.
        messages = access.every_message_of_leaving_user(user=user)
        message_ids = list(messages.values_list("id", flat=True))
        PendingInvalidation.objects.filter(owner_id=owner_id).delete()
        # Their uploaded files: rows now, the bytes in storage once this has committed.
        files.unlink_owner(user=user)
        # Django's cascade: the conversations are fetched, their messages deleted in bulk
        # (Message's own references are DO_NOTHING and all go in the same transaction;
        # PostgreSQL checks the deferred keys at commit).
        user.delete()

        def forget_cached() -> None:
            cache.forget_owner(owner_id=owner_id)
            rendering.forget_rendered(message_ids=message_ids)
            streams.forget_slots(user_id=owner_id)

        transaction.on_commit(forget_cached)
