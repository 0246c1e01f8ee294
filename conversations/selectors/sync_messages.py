"""The messages in sync's change stream: where each stands, and the rows of one page.

Each write that stored messages left one ``MessageBatch``: seqs first to last of one
conversation, at the write's change number. Within a change its conversation (or its
deletion) stands first, then the messages it stored in seq order, so a message's place
is (change number, seq). The places come from the batches alone (a write's seqs are
gapless), so sync cuts a page, one write of 10,000 messages included, before it reads
a single message, and then reads the page's messages in one query.
"""

from __future__ import annotations

import functools
import operator
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q

from .. import access, cursors
from ..models import Message, MessageBatch
from . import branches


@dataclass(frozen=True)
class MessagePlace:
    """Where one stored message stands in its owner's change stream."""

    change: int
    seq: int
    conversation_id: uuid.UUID
    last_of_change: bool  # the last message its write stored

    def key(self) -> tuple[int, int]:
        return self.change, self.seq


def places_after(*, user, after: cursors.SyncPoint, horizon: int, limit: int) -> list[MessagePlace]:
    """The places of the user's first ``limit`` messages stored after ``after``, by
    writes numbered up to ``horizon``, in stream order. One query: ``limit`` batches at
    most, since each holds one message or more."""
    change, seq = after.key()
    batches = (
        MessageBatch.objects.filter(owner=user, change_seq__lte=horizon)
        .filter(Q(change_seq__gt=change) | Q(change_seq=change, last_seq__gt=seq))
        .order_by("change_seq")
        .values_list("change_seq", "conversation_id", "first_seq", "last_seq")[:limit]
    )
    places: list[MessagePlace] = []
    for change_seq, conversation_id, first_seq, last_seq in batches:
        start = max(first_seq, seq + 1) if change_seq == change else first_seq
        for message_seq in range(start, min(last_seq, start + limit - len(places) - 1) + 1):
            places.append(
                MessagePlace(
                    change=change_seq,
                    seq=message_seq,
                    conversation_id=conversation_id,
                    last_of_change=message_seq == last_seq,
                )
            )
        if len(places) >= limit:
            break
    return places


def messages_at(*, user, places: Sequence[MessagePlace]) -> list[Message]:
    """The user's messages at ``places``, in their order, each with its ``sibling_ids``.
    Two queries (none for no places); fewer messages than places when a conversation
    was deleted since its batch was read (the deletion follows in the stream)."""
    if not places:
        return []
    ranges: dict[tuple[int, uuid.UUID], list[int]] = {}
    for place in places:
        ranges.setdefault((place.change, place.conversation_id), []).append(place.seq)
    within = functools.reduce(
        operator.or_,
        (
            Q(conversation_id=conversation_id, seq__gte=min(seqs), seq__lte=max(seqs))
            for (_, conversation_id), seqs in ranges.items()
        ),
    )
    order = {(place.conversation_id, place.seq): index for index, place in enumerate(places)}
    messages = sorted(
        access.owned_messages(user=user).filter(within),
        key=lambda message: order[message.conversation_id, message.seq],
    )
    branches.attach_sibling_ids(messages=messages)
    return messages
