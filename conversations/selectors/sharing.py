"""Reads of share links: the snapshot a link shows to anyone who has it, and whether the
owner's chat is shared (the chat page).

The snapshot is read afresh from PostgreSQL on every request, after the link itself
(access.shared_link): nothing of a link is cached, so a link that is revoked, or whose
chat goes to the trash, is deleted, or loses its owner, answers 404 on the very next
request. (The messages' sanitised HTML still comes from the render cache, keyed by
message id: a message never changes.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from .. import access
from ..models import Message, ShareLink
from . import branches


@dataclass(frozen=True)
class SharedSnapshot:
    title: str
    shared_at: datetime
    # The branch as it was shared, oldest first (its newest NUMINA_SHARE_MAX_MESSAGES).
    messages: list[Message]
    # Messages of the branch above the first one shown (past the bound).
    earlier: bool


def shared_snapshot(*, token: Any) -> SharedSnapshot:
    """What the link of ``token`` shows; ``ShareLink.DoesNotExist`` for any token that
    opens nothing. Two queries: the link with its conversation, then the branch."""
    link = access.shared_link(token=token)
    limit = settings.NUMINA_SHARE_MAX_MESSAGES
    messages = list(
        branches.branch(
            conversation_id=link.conversation_id, leaf_id=link.last_message_id, limit=limit
        ).only("id", "seq", "role", "content", "created_at", "parent")
    )
    return SharedSnapshot(
        title=link.title,
        shared_at=link.created_at,
        messages=messages,
        earlier=bool(messages and messages[0].parent_id),
    )


def is_shared(*, conversation) -> bool:
    """Whether the caller's conversation (already read through access) has a live link."""
    return ShareLink.objects.filter(conversation=conversation).exists()
