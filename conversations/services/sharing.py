"""Share links: making one (a snapshot of the branch shown now) and stopping sharing.

A link's token is ``secrets.token_urlsafe(32)`` (256 random bits), given back once, to
the owner who made it; only its SHA-256 is stored (access.shared_link finds a link by
it). Each link is its own snapshot: the path to the conversation's current message and
its title at that moment. Sharing again makes another link (the earlier ones keep
working, each with its own snapshot), up to NUMINA_SHARE_MAX_LINKS a conversation; Stop
sharing ends every link of the conversation at once, and so does moving it to the trash
(services/trash.py). Sharing changes nothing of the conversation itself, so it takes no
change number: sync and the cached answers are not concerned.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from .. import access
from ..models import ShareLink


class ShareRefused(Exception):
    """A conversation that cannot be shared now: ``detail`` says why, ``code`` for clients."""

    def __init__(self, *, detail: str, code: str):
        super().__init__(detail)
        self.detail = detail
        self.code = code


@dataclass(frozen=True)
class NewShareLink:
    link: ShareLink
    # The only time the token exists outside the owner's hands.
    token: str


@transaction.atomic
def share_conversation(*, user, conversation_id: Any) -> NewShareLink:
    """A new link to a snapshot of the user's conversation as it is shown now
    (``Conversation.DoesNotExist`` for anything not the user's; ``ShareRefused`` for a
    chat with no messages yet or one at the bound of live links)."""
    # The row lock: two shares at once cannot both slip under the bound.
    conversation = access.conversation_for(user=user, conversation_id=conversation_id, lock=True)
    if conversation.current_message_id is None:
        raise ShareRefused(
            detail="This chat has no messages to share yet.", code="nothing_to_share"
        )
    limit = settings.NUMINA_SHARE_MAX_LINKS
    if ShareLink.objects.filter(conversation=conversation).count() >= limit:
        raise ShareRefused(
            detail=f"This chat already has {limit} share links; stop sharing it first.",
            code="too_many_share_links",
        )
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        conversation=conversation,
        token_hash=access.share_token_hash(token),
        last_message_id=conversation.current_message_id,
        title=conversation.title,
    )
    return NewShareLink(link=link, token=token)


@transaction.atomic
def stop_sharing(*, user, conversation_id: Any) -> int:
    """End every link of the user's conversation (none: nothing to do); how many ended.
    ``Conversation.DoesNotExist`` for anything not the user's."""
    conversation = access.conversation_for(user=user, conversation_id=conversation_id, lock=True)
    deleted, _ = ShareLink.objects.filter(conversation=conversation).delete()
    return deleted
