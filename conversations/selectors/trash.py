"""Reads of the user's trash: the API's trash list and the browser's ``/trash/`` page.

The only readers besides the services that go through ``access``'s trash door; every
other read leaves trashed conversations out. Newest trashed first, keyset-paged on the
partial index conv_owner_trash (owner, -trashed_at, -id); a fixed number of queries
whatever the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from .. import access, cursors
from ..models import Conversation, ConversationQuerySet

# The order of the trash (and of its index): newest trashed first, the id breaking ties.
ORDERING = ("-trashed_at", "-id")


def purge_at(conversation: Conversation) -> datetime | None:
    """When the trash will be emptied of this conversation (None: not in the trash)."""
    if conversation.trashed_at is None:
        return None
    return conversation.trashed_at + timedelta(days=settings.NUMINA_TRASH_DAYS)


def trashed_conversations(*, user) -> ConversationQuerySet:
    """The user's trashed conversations, newest trashed first, each with its tag names."""
    return access.trashed_conversations(user=user).with_tag_names().order_by(*ORDERING)


@dataclass(frozen=True)
class TrashPage:
    conversations: list[Conversation]
    next_cursor: str | None


def trash_page(*, user, cursor: str | None, size: int) -> TrashPage:
    """One page of the trash for the browser; a garbled cursor starts from the top, as
    the sidebar's does. One query."""
    rows, next_cursor = cursors.newest_first_page(
        rows=access.trashed_conversations(user=user).order_by(*ORDERING),
        moment_field="trashed_at",
        cursor=cursor,
        size=size,
    )
    return TrashPage(conversations=rows, next_cursor=next_cursor)
