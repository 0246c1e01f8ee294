"""Reads that only the browser UI needs: the sidebar's keyset pages and its search.

They build on the selectors package's reads (which scope everything by the user) and
add what a page of HTML wants: pinned chats ahead of the rest, an opaque cursor, and
message snippets.
Each function runs a fixed number of queries whatever the number of rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet

from .. import access, cursors, selectors
from ..models import Conversation, Message
from . import branches

# Pinned chats are shown whole above the paged list; past this many the oldest pinned
# ones simply wait in the paged list's order like any other chat.
PINNED_LIMIT = 50
# The cursor of a search list that has ended ("More results" pages the other one on).
SEARCH_END = "end"


@dataclass(frozen=True)
class SidebarPage:
    pinned: list[Conversation]
    conversations: list[Conversation]
    next_cursor: str | None


@dataclass(frozen=True)
class SidebarSearch:
    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    next_chats: str = ""
    next_hits: str = ""
    has_more: bool = False


def encode_cursor(conversation: Conversation) -> str:
    return cursors.sidebar_cursor(
        last_activity_at=conversation.last_activity_at, conversation_id=conversation.id
    )


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The (last_activity_at, id) a cursor points after; None for no or a garbled cursor."""
    if not cursor:
        return None
    try:
        return cursors.sidebar_position(cursor=cursor)
    except cursors.InvalidCursor:
        return None


def _after(conversations: QuerySet[Conversation], cursor: str | None) -> QuerySet[Conversation]:
    position = decode_cursor(cursor)
    if position is None:
        return conversations
    moment, conversation_id = position
    # The same (last_activity_at, id) order as the index conv_owner_activity.
    return conversations.filter(
        Q(last_activity_at__lt=moment) | Q(last_activity_at=moment, id__lt=conversation_id)
    )


def sidebar_page(
    *, user, archived: bool, cursor: str | None, size: int, tag: str | None = None
) -> SidebarPage:
    """One page of the sidebar: pinned chats first (on the first page of active chats),
    then the others by last activity, ``size`` at a time; with ``tag``, only the chats
    carrying it (the same keyset pages). Each chat comes with its tag names (on
    PostgreSQL in the same query; elsewhere one prefetch per list)."""
    if archived:
        rest = selectors.list_conversations(user=user, archived=True, tag=tag)
        pinned: list[Conversation] = []
    else:
        rest = selectors.list_conversations(user=user, pinned=False, tag=tag)
        pinned = (
            []
            if cursor
            else list(selectors.list_conversations(user=user, pinned=True, tag=tag)[:PINNED_LIMIT])
        )
    rows = list(_after(rest, cursor)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return SidebarPage(
        pinned=pinned,
        conversations=rows,
        next_cursor=encode_cursor(rows[-1]) if more and rows else None,
    )


def _hits_after(messages: QuerySet[Message], cursor: str | None) -> QuerySet[Message]:
    if not cursor:
        return messages
    try:
        rank, message_id = cursors.search_position(cursor=cursor)
    except cursors.InvalidCursor:
        return messages
    return messages.filter(Q(rank__lt=rank) | Q(rank=rank, id__lt=message_id))


def sidebar_search(
    *,
    user,
    query: str,
    limit: int,
    tag: str | None = None,
    chats_after: str | None = None,
    hits_after: str | None = None,
) -> SidebarSearch:
    """Chats whose title, summary or messages match, and the best matching messages with
    snippets (HTML-escaped, ``<mark>`` around the matched words), archived ones too; with
    ``tag`` only among the chats carrying it.

    Both lists are keyset pages of ``limit``: ``chats_after`` / ``hits_after`` are the
    cursors of "More results" (``SEARCH_END``: that list has ended, nothing of it is
    read), and ``next_chats`` / ``next_hits`` those of the page after this one."""
    conversations: list[Conversation] = []
    if chats_after != SEARCH_END:
        chats = selectors.list_conversations(user=user, archived=None, query=query, tag=tag)
        conversations = list(_after(chats, chats_after)[: limit + 1])
    messages: list[Message] = []
    if hits_after != SEARCH_END:
        hits = selectors.search_messages(user=user, query=query, tag=tag)
        messages = list(_hits_after(hits, hits_after).order_by("-rank", "-id")[: limit + 1])  # type: ignore[misc]  # rank: annotated by search_messages
    next_chats = encode_cursor(conversations[limit - 1]) if len(conversations) > limit else None
    next_hits = (
        cursors.search_cursor(rank=messages[limit - 1].rank, message_id=messages[limit - 1].id)  # type: ignore[attr-defined]  # annotated
        if len(messages) > limit
        else None
    )
    return SidebarSearch(
        conversations=conversations[:limit],
        messages=messages[:limit],
        next_chats=next_chats or SEARCH_END,
        next_hits=next_hits or SEARCH_END,
        has_more=bool(next_chats or next_hits),
    )


def messages_before(
    *,
    user,
    conversation: Conversation,
    before_id: uuid.UUID | None,
    limit: int,
    through_id: uuid.UUID | None = None,
) -> list[Message]:
    """Up to ``limit`` messages of a branch of the user's conversation (which the caller
    got through ``access``), oldest first, each with its ``sibling_ids``: the newest of
    the current branch, or, with ``before_id``, those before that message on the branch
    through it ("earlier messages", so paging follows the branch being read even after
    the conversation's current branch has moved); with ``through_id``, those up to and
    with that message (find in chat: the window ends at the match, on whichever branch
    it is). Two queries however deep the tree:
    the walk up from the leaf is bounded by ``limit``. A ``before_id`` that is not a
    message of the conversation gives none."""
    if limit <= 0:
        return []
    if through_id is not None:
        window = list(
            branches.branch(conversation_id=conversation.id, leaf_id=through_id, limit=limit)
        )
    elif before_id is None:
        window = list(
            branches.branch(
                conversation_id=conversation.id,
                leaf_id=conversation.current_message_id,
                limit=limit,
            )
        )
    else:
        # The branch up to and with ``before_id`` (the window's newest), without it.
        window = list(
            branches.branch(conversation_id=conversation.id, leaf_id=before_id, limit=limit + 1)
        )[:-1]
    branches.attach_sibling_ids(conversation_id=conversation.id, messages=window)
    return window


def find_in_conversation(
    *, user, conversation: Conversation, query: str, limit: int
) -> list[Message]:
    """Find in chat: the conversation's messages matching a web-search query (any branch),
    best first, each with a ``snippet``; ``ValidationError`` on ``q`` for a query search
    refuses. One query (the conversation is the caller's, through ``access``)."""
    return list(
        selectors.search_messages(user=user, query=query, conversation_id=conversation.id)
        .prefetch_related(None)
        .order_by("-rank", "-id")[:limit]  # type: ignore[misc]  # rank: annotated by search_messages
    )


def message_of(
    *, user, conversation: Conversation, message_id: uuid.UUID, with_versions: bool = False
) -> Message | None:
    """One of the user's messages in that conversation, or None for any other id: a
    message action's target; ``with_versions``: with its ``sibling_ids`` too (to show
    it)."""
    message = (
        access.owned_messages(user=user).filter(conversation=conversation, pk=message_id).first()
    )
    if message is not None and with_versions:
        branches.attach_sibling_ids(conversation_id=conversation.id, messages=[message])
    return message
