"""The reads behind the whole-account export (conversations/archive.py).

The user's conversations come in keyset batches (by id, each batch the rows after the
last one seen), and each batch's messages in two queries whatever their number: the
whole trees of every conversation of the batch, and their current branches. Both are
ordered by conversation id, the batch's own order, and read through a server-side
cursor in chunks, so a batch of long conversations streams in bounded memory too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from django.db.models import F

from .. import access
from ..models import Conversation, Message
from . import branches, with_tag_names

# Rows fetched from a message cursor at a time.
CHUNK = 2000


def conversation_batches(*, user, batch_size: int) -> Iterator[list[Conversation]]:
    """The user's conversations (all that ``access`` shows), ``batch_size`` at a time, in
    id order; each with its tag names and ``branch_length`` (its current message's depth,
    a join). One query a batch, and one more that finds the end."""
    after: uuid.UUID | None = None
    while True:
        rows = with_tag_names(user=user).annotate(branch_length=F("current_message__depth"))
        if after is not None:
            rows = rows.filter(id__gt=after)
        batch = list(rows.order_by("id")[:batch_size])
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        after = batch[-1].id


def batch_messages(*, user, conversations: Sequence[Conversation]) -> Iterator[Message]:
    """Every message of these conversations (the whole trees), by conversation id then seq:
    one query, streamed."""
    return (
        access.owned_messages(user=user)
        .filter(conversation_id__in=[c.id for c in conversations])
        .order_by("conversation_id", "seq")
        .iterator(chunk_size=CHUNK)
    )


def batch_current_branches(*, conversations: Sequence[Conversation]) -> Iterator[Message]:
    """The current branch of each of these conversations (found through ``access`` by
    ``conversation_batches``), by conversation id then seq: one query, streamed."""
    return branches.current_branches(conversations=conversations).iterator(chunk_size=CHUNK)
