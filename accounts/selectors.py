"""Reads of a user's account: the devices (API tokens) signed in to it.

The only place that scopes devices by their owner: another user's device is one that
does not exist.
"""

import uuid

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import DeviceName, User


def live_devices(*, user: User) -> QuerySet[DeviceName]:
    """The user's tokens that still work, newest first (an expired one awaits its sweep)."""
    live = Q(token__expiry__isnull=True) | Q(token__expiry__gt=timezone.now())
    return (
        DeviceName.objects.filter(live, token__user=user)
        .select_related("token")
        .order_by("-token__created", "device_id")
    )


def device_for(*, user: User, device_id: uuid.UUID | str) -> DeviceName:
    """One of the user's live devices; DeviceName.DoesNotExist for anything else."""
    try:
        device_uuid = uuid.UUID(str(device_id))
    except ValueError:
        raise DeviceName.DoesNotExist from None
    return live_devices(user=user).get(device_id=device_uuid)
