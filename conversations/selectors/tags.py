"""The user's tags with how many conversations carry each (``GET /api/v1/tags/``, the
sidebar's ``Filter by tag``).

Read from the conversations' side, through the one ownership door, so a tag counts only
conversations the user can see: archived ones do, trashed ones do not. A tag that no
such conversation carries any more is not listed: it has disappeared for the user.
Its row may linger (a conversation in the trash may still carry it, and a restore brings
it back with its tags; a row is never deleted under a write that may be attaching the
same name at that moment), but nothing shows it and the next use of the name reuses it.
"""

from __future__ import annotations

from django.db.models import Count, F

from .. import access


def tag_counts(*, user) -> list[dict]:
    """``[{"name", "conversations"}]`` by name: one query, linear in the user's tagged
    conversations."""
    return list(
        access.owned_conversations(user=user)
        .filter(tags__isnull=False)
        .values(name=F("tags__name"))
        .annotate(conversations=Count("id"))
        .order_by("name")
    )
