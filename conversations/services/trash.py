"""The trash: a deleted conversation is kept, whole, until the user restores it, deletes
it for good, or NUMINA_TRASH_DAYS pass (API.md, "Conversation"). Deleted for good, its
files go too (those no other message carries: services/files.py), their bytes once
the deletion has committed.

For every client a trash is a deletion: the row gets ``trashed_at`` and a
``DeletedConversation`` tombstone at the change number that write took, so sync and the
live stream report the id under ``deleted``, and every door of ``access`` answers the
conversation (and its messages) as one that does not exist. A restore is a change: the
tombstone goes, the row comes back as it was (last activity, pinned, archived, tags,
messages) at a new change number, and its messages are carried at that number too, so a
client that dropped them on the deletion gets them again through sync, once.

The ``client_id`` stays reserved throughout: the trashed row keeps it (the unique
constraint) and the tombstone names it, so a replayed offline create answers 404 while
the conversation is in the trash or gone, and the conversation itself once restored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import access
from ..models import Conversation, DeletedConversation, MessageBatch, ShareLink
from . import files
from .conversations import next_change_seq, save_changed


@transaction.atomic
def trash_conversation(*, user, conversation_id: Any) -> None:
    """Move the user's conversation to the trash (``DoesNotExist`` for anything else,
    also for one already there)."""
    _trash(access.conversation_for(user=user, conversation_id=conversation_id, lock=True))


def _trash(conversation: Conversation) -> None:
    """Trash the conversation whose row lock the caller holds."""
    conversation.trashed_at = timezone.now()
    save_changed(conversation, fields=["trashed_at"])
    # Its share links end here for good: restoring a chat must not publish it again
    # (access.shared_link also refuses a trashed one, so none is served meanwhile).
    ShareLink.objects.filter(conversation=conversation).delete()
    # The tombstone takes the row's new change number: one change, seen as a deletion
    # (sync's conversation read leaves trashed rows out, so only the tombstone shows).
    DeletedConversation.objects.create(
        owner_id=conversation.owner_id,
        conversation_id=conversation.id,
        client_id=conversation.client_id,
        change_seq=conversation.change_seq,
    )


@transaction.atomic
def delete_conversation(*, user, conversation_id: Any, permanent: bool = False) -> None:
    """The API's DELETE: the user's conversation goes to the trash, or, with
    ``permanent`` or when it is in the trash already, is gone for good with its messages.
    ``DoesNotExist`` when it is neither the user's nor in the user's trash."""
    try:
        conversation = access.conversation_for(
            user=user, conversation_id=conversation_id, lock=True
        )
    except Conversation.DoesNotExist:
        _delete_trashed(user=user, conversation_id=conversation_id)
        return
    if not permanent:
        _trash(conversation)
        return
    DeletedConversation.objects.create(
        owner=user,
        conversation_id=conversation.id,
        client_id=conversation.client_id,
        change_seq=next_change_seq(owner_id=user.pk, conversation_id=conversation.id),
    )
    files.unlink_conversations(conversation_ids=[conversation.id])
    conversation.delete()


@transaction.atomic
def delete_forever(*, user, conversation_id: Any) -> None:
    """Delete a conversation in the user's trash for good (``DoesNotExist`` for one that
    is not in it: the browser's ``Delete forever`` acts on the trash only)."""
    _delete_trashed(user=user, conversation_id=conversation_id)


def _delete_trashed(*, user, conversation_id: Any) -> None:
    # Clients were told of the deletion when it went to the trash (its tombstone stays,
    # keeping the client_id reserved), so no new change number: nothing changes for them.
    conversation = access.trashed_conversation_for(
        user=user, conversation_id=conversation_id, lock=True
    )
    files.unlink_conversations(conversation_ids=[conversation.id])
    conversation.delete()


@transaction.atomic
def restore_conversation(*, user, conversation_id: Any) -> Conversation:
    """Bring a conversation back from the user's trash, exactly where it was; sync reports
    it changed (``DoesNotExist`` for one that is not in the trash)."""
    conversation = access.trashed_conversation_for(
        user=user, conversation_id=conversation_id, lock=True
    )
    DeletedConversation.objects.filter(owner=user, conversation_id=conversation.id).delete()
    # Its messages stand again at the restore's change number, and only there: a client
    # that dropped them on the deletion gets them again, one from the beginning gets
    # them once. A message's seq runs 1..message_count with no gap.
    MessageBatch.objects.filter(conversation=conversation).delete()
    conversation.trashed_at = None
    save_changed(
        conversation,
        fields=["trashed_at"],
        stored_seqs=(1, conversation.message_count) if conversation.message_count else None,
    )
    return conversation


def purge_before() -> datetime:
    """Conversations trashed before this moment are due to be emptied."""
    return timezone.now() - timedelta(days=settings.NUMINA_TRASH_DAYS)


@transaction.atomic
def empty_trash(*, trashed_before: datetime, limit: int) -> int:
    """Delete for good at most ``limit`` conversations trashed before ``trashed_before``,
    of any user (the beat task acts for no user, as the sweepers do); how many.

    One transaction, a fixed number of statements whatever their messages (the cascade
    is PostgreSQL's bulk delete per related table). ``skip_locked``: a conversation being
    restored or deleted right now is left for the next run, and two runs at once never
    wait on each other. Running it again finds nothing more to do.
    """
    due = list(
        Conversation.objects.filter(trashed_at__lt=trashed_before)
        .order_by("trashed_at")
        .select_for_update(skip_locked=True)
        .values_list("id", flat=True)[:limit]
    )
    if due:
        files.unlink_conversations(conversation_ids=due)
        Conversation.objects.filter(id__in=due).delete()
    return len(due)
