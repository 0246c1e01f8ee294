"""Every read of conversations and messages that is more than a fetch by id.

Each selector takes the acting user and scopes by it; each returns a queryset or rows
whose query count does not depend on how many rows there are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, FloatField, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Cast, Replace, Substr

from . import validation
from .models import (
    SEARCH_CONFIG,
    ChangeCounter,
    Conversation,
    ConversationQuerySet,
    DeletedConversation,
    Message,
    Tag,
)
from .services import as_uuid

# A queryset of conversations keeps its own class (and its chainable methods) through here.
_Conversations = TypeVar("_Conversations", bound=QuerySet[Conversation])


def _clean_query(query: Any) -> str:
    try:
        return validation.clean_search_query(query)
    except ValidationError as exc:
        raise ValidationError({"q": exc.messages}) from None


def with_tag_names(conversations: _Conversations) -> _Conversations:
    """Each conversation's tag names, sorted, as ``tag_names`` (read by
    ``Conversation.tag_list``).

    On PostgreSQL an array subquery inside the same query (one round trip for a page of
    conversations and all their tags); elsewhere a prefetch (a second query).
    """
    if connection.vendor == "postgresql":
        names = Tag.objects.filter(conversations=OuterRef("pk")).order_by("name").values("name")
        return conversations.annotate(tag_names=ArraySubquery(names))
    return conversations.prefetch_related("tags")


def _owned(*, user) -> ConversationQuerySet:
    return with_tag_names(Conversation.objects.owned_by(user))


def get_conversation(*, user, conversation_id: Any) -> Conversation:
    """The user's conversation, or ``Conversation.DoesNotExist`` for anything else."""
    conversation_uuid = as_uuid(conversation_id)
    if conversation_uuid is None:
        raise Conversation.DoesNotExist
    return _owned(user=user).get(id=conversation_uuid)


def _websearch(query: str) -> SearchQuery:
    return SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")


def matching_messages(*, user, query: str) -> QuerySet[Message]:
    """The user's messages whose content matches a web-search query (words, "phrases",
    -excluded, or).

    On PostgreSQL: the stored ``search_vector`` through the (owner, search_vector) GIN
    index of migration 0003. The SQLite embedded default falls back to a substring match.
    """
    messages = Message.objects.filter(owner=user)
    if connection.vendor == "postgresql":
        return messages.filter(search_vector=_websearch(query))
    return messages.filter(content__icontains=query)


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
    if query is not None and query.strip():
        query = _clean_query(query)
        conversations = conversations.filter(
            Q(title__icontains=query)
            | Q(summary__icontains=query)
            | Q(id__in=matching_messages(user=user, query=query).values("conversation_id"))
        )
    return conversations


def change_position(*, user) -> int:
    """How far the user's change stream has gone (0 before any change): the version of
    anything built from the user's conversations after this read."""
    return ChangeCounter.objects.filter(owner=user).values_list("value", flat=True).first() or 0


def ensure_owned(*, user, conversation_id: Any) -> uuid.UUID:
    """The conversation's id when it is the user's; ``Conversation.DoesNotExist`` otherwise.

    One indexed EXISTS, for callers that need the ownership answer (a 404 before a 400)
    but not the row.
    """
    conversation_uuid = as_uuid(conversation_id)
    if (
        conversation_uuid is None
        or not Conversation.objects.filter(owner=user, id=conversation_uuid).exists()
    ):
        raise Conversation.DoesNotExist
    return conversation_uuid


def list_messages(*, user, conversation_id: Any, after_seq: int = 0) -> QuerySet[Message]:
    """A conversation's messages after ``after_seq``, ascending; 404s as get_conversation."""
    conversation_uuid = ensure_owned(user=user, conversation_id=conversation_id)
    return Message.objects.filter(conversation_id=conversation_uuid, seq__gt=after_seq).order_by(
        "seq"
    )


def recent_messages(*, conversation: Conversation, limit: int) -> list[Message]:
    """The newest ``limit`` messages of a conversation the caller already owns, oldest first."""
    if limit <= 0:
        return []
    newest = Message.objects.filter(conversation=conversation).order_by("-seq")[:limit]
    return list(reversed(newest))


def search_messages(*, user, query: str, archived: bool | None = None) -> QuerySet[Message]:
    """The user's messages matching a web-search query, annotated with ``rank`` and ``snippet``.

    ``snippet`` is built from HTML-escaped content, so the only markup in it is the
    ``<mark>`` around matched words: clients may show it as HTML.
    """
    query = _clean_query(query)
    # The page's conversations come in a second query: joining them into the ranked
    # query made PostgreSQL hash all of the user's conversations before the LIMIT.
    messages = matching_messages(user=user, query=query).prefetch_related(
        Prefetch("conversation", queryset=Conversation.objects.only("id", "title"))
    )
    if archived is not None:
        messages = messages.filter(conversation__is_archived=archived)
    if connection.vendor != "postgresql":
        return messages.annotate(
            rank=Value(1.0, output_field=FloatField()), snippet=Substr("content", 1, 200)
        )
    search_query = _websearch(query)
    escaped = Replace(
        Replace(Replace("content", Value("&"), Value("&amp;")), Value("<"), Value("&lt;")),
        Value(">"),
        Value("&gt;"),
    )
    return messages.annotate(
        # ts_rank is a float4: as double precision it survives the trip through a page
        # cursor exactly, so keyset pages neither repeat nor skip.
        rank=Cast(SearchRank(F("search_vector"), search_query), FloatField()),
        snippet=SearchHeadline(
            escaped,
            search_query,
            config=SEARCH_CONFIG,
            start_sel="<mark>",
            stop_sel="</mark>",
            max_words=30,
            min_words=10,
            max_fragments=2,
        ),
    )


@dataclass(frozen=True)
class SyncPage:
    conversations: list[Conversation]
    deleted: list[uuid.UUID]
    next_since: int
    has_more: bool


def sync_changes(*, user, since: int, limit: int) -> SyncPage:
    """The user's changes after position ``since`` of their change stream, oldest first.

    Conversations and deletions share one per-user sequence (services.next_change_seq),
    so merging the two by position and stopping after ``limit`` gives every change
    exactly once to a client that follows ``next_since``.
    """
    changed = list(
        with_tag_names(Conversation.objects.owned_by(user))
        .filter(change_seq__gt=since)
        .order_by("change_seq")[: limit + 1]
    )
    deleted = list(
        DeletedConversation.objects.filter(owner=user, change_seq__gt=since)
        .order_by("change_seq")
        .values_list("change_seq", "conversation_id")[: limit + 1]
    )
    stream = sorted(
        [(c.change_seq, c) for c in changed] + [(seq, cid) for seq, cid in deleted],
        key=lambda item: item[0],
    )
    page, rest = stream[:limit], stream[limit:]
    return SyncPage(
        conversations=[item for _, item in page if isinstance(item, Conversation)],
        deleted=[item for _, item in page if not isinstance(item, Conversation)],
        next_since=page[-1][0] if page else since,
        has_more=bool(rest),
    )


def export_messages(*, conversation: Conversation) -> Iterator[Message]:
    """All messages of a conversation the caller owns, in order, streamed in chunks."""
    return (
        Message.objects.filter(conversation=conversation).order_by("seq").iterator(chunk_size=2000)
    )
