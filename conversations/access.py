"""The one door to a user's conversations and messages: "this conversation, for this user".

Every service, selector, view and task that acts for a user reaches a conversation or
a message through here, so ownership is decided in one place and answered one way: a
conversation that is not the user's raises ``Conversation.DoesNotExist``, exactly as one
that does not exist or an id that is not a UUID (the API's 404, with nothing that hints
which of the three it was). The filter itself is the models' ``owned_by`` queryset
method; nothing else in the project filters conversations or messages by owner.

A conversation in the trash (``trashed_at`` set) is not the user's through these doors:
every read and write answers it as one that does not exist, and so do its messages. The
trash has its own door, ``trashed_conversations`` / ``trashed_conversation_for``, used
only by the trash list, restore and the permanent delete (services/trash.py,
selectors/trash.py).

A shared link (``shared_link``) opens one snapshot of one conversation to anyone who
holds its token, signed in or not: it is found by the token's hash, never by owner, and
only while its conversation is out of the trash and its owner's account is active.

The exceptions, each acting for no user: the admin (support staff see every row), the
legacy importer (keyed by the globally unique ``legacy_key``: it must tell "another
user's" from "none yet" to refuse rather than create), the background sweepers and
tasks (they find a conversation by id, then act as its owner through the services), and
the data migrations.

Memory items (memory/) are a user's too, and reached the same way: ``owned_memory_items``
and ``memory_item_for``.

The two doors the hot reads pass on every request (is this conversation the user's; the
conversation with its tag names) are compiled queries (numina/compiled.py): the same
filters, built and compiled once per thread instead of once per request.

This module imports only the models (and numina.compiled, which imports none of the
project), so everything else may import it without a cycle.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from memory.models import MemoryItem
from numina.compiled import CompiledQuery

from .models import Conversation, ConversationQuerySet, ImportJob, Message, ShareLink, UserFile

# secrets.token_urlsafe(32): 43 characters. Anything much longer is no token of ours, and
# is refused before it is hashed.
SHARE_TOKEN_MAX_LENGTH = 100


def as_uuid(value: Any) -> uuid.UUID | None:
    """An id from a request as a UUID, or None when it is not one (callers answer 404, not
    400: a malformed id is as unknown as a missing one)."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _one_by_id(rows: QuerySet, *, object_id: Any, lock: bool):
    """The row of ``rows`` with this id, or ``rows.model.DoesNotExist`` — also for an id
    that is not a UUID, so the three kinds of "not yours" answer alike. ``lock`` takes the
    row lock until commit (the caller is inside a transaction). Every ``…_for`` door below
    reads its one row through here, but the compiled ``conversation_with_tag_names_for``,
    which answers the same three cases alike itself."""
    object_uuid = as_uuid(object_id)
    if object_uuid is None:
        raise rows.model.DoesNotExist
    if lock:
        rows = rows.select_for_update()
    return rows.get(id=object_uuid)


def owned_conversations(
    *, user, within: ConversationQuerySet | None = None
) -> ConversationQuerySet:
    """The user's conversations; ``within`` narrows or annotates the rows read (a
    selector's annotations, a lock), and is scoped to the user here."""
    conversations = Conversation.objects.all() if within is None else within
    return conversations.owned_by(user)


def owned_messages(*, user) -> QuerySet[Message]:
    """The user's messages (by the owner copied onto each message, so no join)."""
    return Message.objects.owned_by(user)


def every_message_of_leaving_user(*, user) -> QuerySet[Message]:
    """Every message the user has, whatever any read hides (a trashed conversation's too):
    only for deleting the account (accounts.services.delete_account), which must leave
    nothing of theirs behind, so not narrowed as ``owned_by`` may be."""
    return Message.objects.filter(owner=user)


def conversation_for(
    *,
    user,
    conversation_id: Any,
    lock: bool = False,
    within: ConversationQuerySet | None = None,
) -> Conversation:
    """The user's conversation with this id, or ``Conversation.DoesNotExist``.

    ``lock`` takes the row lock every write to a conversation holds until commit (the
    caller is inside a transaction); ``within`` as for ``owned_conversations``.
    """
    return _one_by_id(
        owned_conversations(user=user, within=within), object_id=conversation_id, lock=lock
    )


def _marker_user(user_id: uuid.UUID):
    # The compiled doors' builders get the user as its id: the door filters by it alone.
    return User(pk=user_id)


def owned_conversation_ids_query(*, user_id: uuid.UUID, conversation_id: uuid.UUID) -> QuerySet:
    owned = owned_conversations(user=_marker_user(user_id))
    return owned.filter(id=conversation_id).values("id")[:1]


OWNED_CONVERSATION_IDS = CompiledQuery(
    owned_conversation_ids_query, params={"user_id": uuid.UUID, "conversation_id": uuid.UUID}
)


def _conversation_columns() -> list[str]:
    return [field.attname for field in Conversation._meta.concrete_fields]


def conversations_with_tag_names_query(
    *, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> QuerySet:
    owned = owned_conversations(
        user=_marker_user(user_id), within=Conversation.objects.with_tag_names()
    )
    return owned.filter(id=conversation_id).values(*_conversation_columns(), "tag_names")


CONVERSATIONS_WITH_TAG_NAMES = CompiledQuery(
    conversations_with_tag_names_query, params={"user_id": uuid.UUID, "conversation_id": uuid.UUID}
)


def conversation_with_tag_names_for(*, user, conversation_id: Any) -> Conversation:
    """``conversation_for`` with ``within=Conversation.objects.with_tag_names()``: the
    conversation the retrieve answers. On PostgreSQL one compiled query (the tag names
    are a column there); elsewhere the ORM's read and its prefetch."""
    conversation_uuid = as_uuid(conversation_id)
    if conversation_uuid is None:
        raise Conversation.DoesNotExist
    if connection.vendor != "postgresql":
        return conversation_for(
            user=user,
            conversation_id=conversation_uuid,
            within=Conversation.objects.with_tag_names(),
        )
    rows = CONVERSATIONS_WITH_TAG_NAMES.rows(user_id=user.pk, conversation_id=conversation_uuid)
    if not rows:
        raise Conversation.DoesNotExist
    columns = _conversation_columns()
    # The instance the ORM would have made of the row, with its annotation.
    conversation = Conversation.from_db(connection.alias, columns, [rows[0][c] for c in columns])
    conversation.tag_names = rows[0]["tag_names"]  # type: ignore[attr-defined]  # with_tag_names' annotation
    return conversation


def owned_conversation_id(*, user, conversation_id: Any) -> uuid.UUID:
    """The conversation's id when it is the user's; ``Conversation.DoesNotExist`` otherwise.

    One indexed read of at most one id (compiled), for callers that need the ownership
    answer (a 404 before a 400) but not the row.
    """
    conversation_uuid = as_uuid(conversation_id)
    if conversation_uuid is None or not OWNED_CONVERSATION_IDS.rows(
        user_id=user.pk, conversation_id=conversation_uuid
    ):
        raise Conversation.DoesNotExist
    return conversation_uuid


def import_job_for(*, user, job_id: Any) -> ImportJob:
    """The user's import job with this id, or ``ImportJob.DoesNotExist`` (another user's
    answers as a missing one does); the upload's bytes are not read."""
    return _one_by_id(
        ImportJob.objects.defer("data").filter(owner=user), object_id=job_id, lock=False
    )


def trashed_conversations(*, user) -> ConversationQuerySet:
    """The user's conversations in the trash (and only those)."""
    return Conversation.objects.trashed_by(user)


def trashed_conversation_for(*, user, conversation_id: Any, lock: bool = False) -> Conversation:
    """The user's trashed conversation with this id, or ``Conversation.DoesNotExist``
    (also for one that is not in the trash: the trash door opens on the trash only)."""
    return _one_by_id(trashed_conversations(user=user), object_id=conversation_id, lock=lock)


def share_token_hash(token: str) -> str:
    """What is stored of a share token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def shared_link(*, token: Any) -> ShareLink:
    """The live share link of ``token``, with its conversation, or
    ``ShareLink.DoesNotExist``: one answer for a token that never existed, one revoked,
    one whose conversation is in the trash or whose owner is gone or deactivated.

    One indexed lookup by the hash; comparing hashes in SQL gives away nothing about the
    token (an attacker cannot steer the hash of a guess)."""
    if not isinstance(token, str) or not token or len(token) > SHARE_TOKEN_MAX_LENGTH:
        raise ShareLink.DoesNotExist
    return (
        ShareLink.objects.select_related("conversation")
        .filter(conversation__trashed_at__isnull=True, conversation__owner__is_active=True)
        .get(token_hash=share_token_hash(token))
    )


def owned_memory_items(*, user) -> QuerySet[MemoryItem]:
    """The user's memory items (memory/): the only filter of memory by owner."""
    return MemoryItem.objects.filter(owner=user)


def memory_item_for(*, user, item_id: Any, lock: bool = False) -> MemoryItem:
    """The user's memory item with this id, or ``MemoryItem.DoesNotExist`` (another
    user's, a missing one and an id that is not a UUID all answer the same 404)."""
    return _one_by_id(owned_memory_items(user=user), object_id=item_id, lock=lock)


def owned_files(*, user) -> QuerySet[UserFile]:
    """The user's uploaded files (API.md "Files")."""
    return UserFile.objects.filter(owner=user)


def file_for(*, user, file_id: Any, lock: bool = False) -> UserFile:
    """The user's file with this id, or ``UserFile.DoesNotExist`` (another user's answers
    as a missing one does: the API's 404, downloads and attachments alike)."""
    return _one_by_id(owned_files(user=user), object_id=file_id, lock=lock)


def files_for(*, user, file_ids: Any, lock: bool = False) -> QuerySet[UserFile]:
    """Those of these ids that are the user's files (the caller compares what it asked
    for with what came back)."""
    files = owned_files(user=user).filter(id__in=list(file_ids)).order_by("id")
    return files.select_for_update() if lock else files
