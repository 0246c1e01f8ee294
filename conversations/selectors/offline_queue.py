"""What a replayed offline queue (the batch endpoint) asks of the store: the
conversation a client named by its own ``client_id``, and whether the user deleted one."""

from __future__ import annotations

import uuid

from .. import access
from ..models import Conversation, DeletedConversation


def conversation_id_made_with(*, user, client_id: uuid.UUID) -> uuid.UUID:
    """The id of the user's conversation created with ``client_id``;
    ``Conversation.DoesNotExist`` when the user has none (another user's is none)."""
    found = (
        access.owned_conversations(user=user)
        .filter(client_id=client_id)
        .values_list("id", flat=True)
        .first()
    )
    if found is None:
        raise Conversation.DoesNotExist
    return found


def deleted_by(*, user, conversation_id: uuid.UUID) -> bool:
    """Whether this user deleted the conversation with this id (another user's deletion
    is not theirs to know of)."""
    return DeletedConversation.objects.filter(owner=user, conversation_id=conversation_id).exists()
