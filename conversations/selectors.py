"""Every read of conversations and messages that is more than a fetch by id.

Each selector takes the acting user and scopes by it; each returns a queryset or rows
whose query count does not depend on how many rows there are.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import SEARCH_CONFIG, Conversation, Message
from .services import as_uuid


def _owned(*, user) -> QuerySet[Conversation]:
    return Conversation.objects.owned_by(user).prefetch_related("tags")


def get_conversation(*, user, conversation_id: Any) -> Conversation:
    """The user's conversation, or ``Conversation.DoesNotExist`` for anything else."""
    conversation_uuid = as_uuid(conversation_id)
    if conversation_uuid is None:
        raise Conversation.DoesNotExist
    return _owned(user=user).get(id=conversation_uuid)


def message_matches(*, query: str) -> Q:
    """Messages whose content matches a web-search style query (words, "phrases", -not, or).

    On PostgreSQL this is full-text search over the GIN expression index of migration
    0002; the embedded SQLite default falls back to a substring match.
    """
    if connection.vendor == "postgresql":
        return Q(search_vector=SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch"))
    return Q(content__icontains=query)


def messages_with_search_vector(queryset: QuerySet[Message]) -> QuerySet[Message]:
    if connection.vendor == "postgresql":
        # Must stay the exact expression the index was built on.
        return queryset.annotate(search_vector=SearchVector("content", config=SEARCH_CONFIG))
    return queryset


def list_conversations(
    *,
    user,
    archived: bool | None = False,
    pinned: bool | None = None,
    tag: str | None = None,
    query: str | None = None,
) -> QuerySet[Conversation]:
    """The user's conversations, newest activity first.

    ``archived``: False (default) only active ones, True only archived, None all.
    ``query`` matches the title, the summary and the content of any message.
    """
    conversations = _owned(user=user).by_last_activity()
    if archived is not None:
        conversations = conversations.filter(is_archived=archived)
    if pinned is not None:
        conversations = conversations.filter(is_pinned=pinned)
    if tag:
        conversations = conversations.filter(tags__name=tag.strip())
    if query and query.strip():
        query = query.strip()
        matching_messages = messages_with_search_vector(
            Message.objects.filter(conversation=OuterRef("pk"))
        ).filter(message_matches(query=query))
        conversations = conversations.filter(
            Q(title__icontains=query) | Q(summary__icontains=query) | Exists(matching_messages)
        )
    return conversations


def list_messages(*, user, conversation_id: Any, after_seq: int = 0) -> QuerySet[Message]:
    """A conversation's messages after ``after_seq``, ascending; 404s as get_conversation."""
    conversation_uuid = as_uuid(conversation_id)
    if (
        conversation_uuid is None
        or not Conversation.objects.filter(owner=user, id=conversation_uuid).exists()
    ):
        raise Conversation.DoesNotExist
    return Message.objects.filter(conversation_id=conversation_uuid, seq__gt=after_seq).order_by(
        "seq"
    )


def recent_messages(*, conversation: Conversation, limit: int) -> list[Message]:
    """The newest ``limit`` messages of a conversation the caller already owns, oldest first."""
    if limit <= 0:
        return []
    newest = Message.objects.filter(conversation=conversation).order_by("-seq")[:limit]
    return list(reversed(newest))
