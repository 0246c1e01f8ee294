"""Every read of conversations and messages that is more than a fetch by id.

Each selector takes the acting user and scopes by it through ``access`` (the one door
to a user's conversations and messages); each returns a queryset or rows whose query
count does not depend on how many rows there are. A read that may be served from the
cache says so here, beside the query it caches: what is kept, under which scope, and
when the cache may answer (``cache.py`` holds the versioned entries themselves).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, FloatField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Replace, Substr

from .. import access, cache, cursors, validation
from ..models import (
    SEARCH_CONFIG,
    ChangeCounter,
    Conversation,
    ConversationQuerySet,
    DeletedConversation,
    Message,
)
from . import branches, sync_messages

# The retrieve read lives with the branch it reads, so its path is one selector module.
from .branches import conversation_with_recent_messages as conversation_with_recent_messages
from .branches import recent_messages as recent_messages

CacheableRead = cache.CacheableRead

# The two threads of a conversation's message list (API.md): every branch, or only the
# one shown.
THREAD_ALL = "all"
THREAD_CURRENT = "current"


def _clean_query(query: Any) -> str:
    try:
        return validation.clean_search_query(query)
    except ValidationError as exc:
        raise ValidationError({"q": exc.messages}) from None


def with_tag_names(*, user) -> ConversationQuerySet:
    """The user's conversations, each with its tag names (``Conversation.tag_list``)."""
    return access.owned_conversations(user=user, within=Conversation.objects.with_tag_names())


def attach_tag_names(*, rows: Sequence[dict[str, Any]]) -> None:
    """Give a page of ``Conversation.objects.answer_rows`` its ``tag_names`` where the rows
    do not carry them (not PostgreSQL: the embedded default): one query for the page. The
    rows are the user's already (read through ``access``)."""
    if not rows or "tag_names" in rows[0]:
        return
    names: dict[Any, list[str]] = {row["id"]: [] for row in rows}
    through = Conversation.tags.through.objects.filter(conversation_id__in=list(names))
    for conversation_id, name in through.order_by("tag__name").values_list(
        "conversation_id", "tag__name"
    ):
        names[conversation_id].append(name)
    for row in rows:
        row["tag_names"] = names[row["id"]]


def get_conversation(*, user, conversation_id: Any) -> Conversation:
    """The user's conversation, or ``Conversation.DoesNotExist`` for anything else."""
    return access.conversation_for(
        user=user,
        conversation_id=conversation_id,
        within=Conversation.objects.with_tag_names(),
    )


def _websearch(query: str) -> SearchQuery:
    return SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")


def matching_messages(*, user, query: str) -> QuerySet[Message]:
    """The user's messages whose content matches a web-search query (words, "phrases",
    -excluded, or).

    On PostgreSQL: the stored ``search_vector`` through the (owner, search_vector) GIN
    index of migration 0003. The SQLite embedded default falls back to a substring match.
    """
    messages = access.owned_messages(user=user)
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
    conversations = with_tag_names(user=user).by_last_activity()
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


def conversation_list_page(
    *,
    user,
    archived: bool | None,
    pinned: bool | None,
    tag: str | None,
    query: str | None,
    parameters: Collection[str],
    variant: str,
    shape: Callable[[QuerySet[Conversation]], Any],
) -> CacheableRead:
    """A page of ``list_conversations``, shaped by ``shape`` (which paginates).

    Cache policy: only the first page of the default list is cached — no request
    parameter but ``archived=false`` (``parameters``: the names the request gave) — as
    it is what opening the app asks for; it is the user's list entry (cache.LIST), one
    per ``variant`` (the host the page's links are built on), versioned by the user's
    change stream position read before the page.
    """

    def build() -> tuple[int, Any]:
        version = change_position(user=user)
        conversations = list_conversations(
            user=user, archived=archived, pinned=pinned, tag=tag, query=query
        )
        return version, shape(conversations)

    if set(parameters) - {"archived"} or archived is not False:
        return CacheableRead(value=build()[1], cached=None)
    value, was_cached = cache.cached(
        kind=cache.LIST, scope=cache.list_scope(owner_id=user.pk), variant=variant, build=build
    )
    return CacheableRead(value=value, cached=was_cached)


def change_position(*, user) -> int:
    """How far the user's change stream has gone (0 before any change): the version of
    anything built from the user's conversations after this read."""
    return ChangeCounter.objects.filter(owner=user).values_list("value", flat=True).first() or 0


def list_messages(
    *, user, conversation_id: Any, after_seq: int = 0, thread: str = THREAD_ALL
) -> QuerySet[Message]:
    """A conversation's messages after ``after_seq``, ascending seq: of every branch
    (``THREAD_ALL``) or of the current branch only (``THREAD_CURRENT``, one query however
    deep the tree); 404s as get_conversation. Callers page it, then give each page its
    ``sibling_ids`` (``attach_sibling_ids``)."""
    if thread == THREAD_CURRENT:
        conversation = access.conversation_for(user=user, conversation_id=conversation_id)
        return branches.branch(
            conversation_id=conversation.id,
            leaf_id=conversation.current_message_id,
            after_seq=after_seq,
            within=access.owned_messages(user=user),
        )
    if thread != THREAD_ALL:
        raise ValidationError({"thread": [f"Must be {THREAD_ALL} or {THREAD_CURRENT}."]})
    conversation_uuid = access.owned_conversation_id(user=user, conversation_id=conversation_id)
    return (
        access.owned_messages(user=user)
        .filter(conversation_id=conversation_uuid, seq__gt=after_seq)
        .order_by("seq")
    )


def attach_sibling_ids(*, messages: Sequence[branches.MessageRow]) -> None:
    """Give each message (of one conversation, already the user's; an instance or a
    ``values()`` row) its ``sibling_ids``: one query for them all, none for none
    (selectors.branches)."""
    if messages:
        conversation_id = branches.message_field(messages[0], "conversation_id")
        branches.attach_sibling_ids(conversation_id=conversation_id, messages=messages)


def search_messages(
    *,
    user,
    query: str,
    archived: bool | None = None,
    conversation_id: Any = None,
    role: str | None = None,
    tag: str | None = None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> QuerySet[Message]:
    """The user's messages matching a web-search query, annotated with ``rank`` and ``snippet``:
    the newest ``NUMINA_SEARCH_CANDIDATES`` matches (after the filters), to be ordered by
    rank (best first) by the caller.

    Only that bounded, recency-ordered candidate set is ranked, so a query's cost does not
    grow with its number of matches: ranking every match before the first page cost a
    user with 200,000 messages 150 ms for a word in all of them (benchmarks/search_bench.py).
    The candidates are found by whichever index is cheaper for the query: for a rare word
    the owner's search index (all its matches, then the newest of them), for a common one
    a walk of the owner's messages newest first (message_owner_created) that stops at
    the bound. For a fixed data set the candidates are the same on every page (ordered by
    time, then id), so cursor pages neither repeat nor skip.

    ``snippet`` is built from HTML-escaped content, so the only markup in it is the
    ``<mark>`` around matched words: clients may show it as HTML.

    Filters (API.md, search): ``conversation_id`` one of the user's conversations
    (``Conversation.DoesNotExist`` for any other: the 404 of every door), ``role``,
    ``tag`` (conversations carrying it), and ``after`` (inclusive) / ``before``
    (exclusive) on the message's time. Each narrows the candidates, not the page: they
    are the newest matches that pass them. ``conversation_id`` can also be read from the
    conversation's own index (message_unique_seq), the cheaper plan for a chat much
    smaller than the account (tests/api/test_search_filters.py checks each plan with
    EXPLAIN).
    """
    query = _clean_query(query)
    candidates = matching_messages(user=user, query=query)
    if archived is not None:
        candidates = candidates.filter(conversation__is_archived=archived)
    if conversation_id is not None:
        candidates = candidates.filter(
            conversation_id=access.owned_conversation_id(user=user, conversation_id=conversation_id)
        )
    if role is not None:
        candidates = candidates.filter(role=validation.clean_role(role))
    if tag is not None:
        tagged = access.owned_conversations(user=user).filter(tags__name=tag.strip())
        candidates = candidates.filter(conversation_id__in=tagged.values("id"))
    if after is not None:
        candidates = candidates.filter(created_at__gte=after)
    if before is not None:
        candidates = candidates.filter(created_at__lt=before)
    # The id breaks ties of time, so the bound cuts the same rows on every page.
    newest = candidates.order_by("-created_at", "-id").values("pk")[
        : settings.NUMINA_SEARCH_CANDIDATES
    ]
    # The page's conversations come in a second query: joining them into the ranked
    # query made PostgreSQL hash all of the user's conversations before the LIMIT.
    # The candidates are already the user's (access above): this only reads them by id.
    messages = Message.objects.filter(pk__in=newest).prefetch_related(
        Prefetch("conversation", queryset=Conversation.objects.only("id", "title"))
    )
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


def search_answer_rows(
    results: QuerySet[Message], *columns: str
) -> QuerySet[Message, dict[str, Any]]:
    """``search_messages``'s results as ``values()`` rows of ``columns`` (the message's
    fields, ``rank``, ``snippet``) and ``conversation_title``: what the API's answer reads,
    with no model instances and no second query for the conversations (issue 19).

    The title is a scalar subquery, which PostgreSQL evaluates after the rank's sort and
    limit, for the page's rows only: a join read it for all 200 candidates before the
    sort (EXPLAIN ANALYZE for a word in 10,000 of 200,000 messages: 12.5 ms joined,
    3.5 ms as a subquery). The results are already the user's (``search_messages`` read
    them through ``access``): the subquery reads their own conversations by id.
    """
    title = Conversation.objects.filter(pk=OuterRef("conversation_id")).values("title")[:1]
    return results.prefetch_related(None).values(*columns, conversation_title=Subquery(title))


@dataclass(frozen=True)
class SyncPage:
    conversations: list[Conversation]
    deleted: list[uuid.UUID]
    next_since: int
    has_more: bool
    # With messages: the page's messages in the order they were stored, and where
    # inside change ``next_since`` the page ends (None: after all of it).
    messages: list[Message] = field(default_factory=list)
    next_message_seq: int | None = None
    # The page in stream order, each item at its own place with the point just after it:
    # what the event stream sends, one event each (the conversations carried only for
    # their messages are not among them; they come again at their own place).
    entries: list[StreamEntry] = field(default_factory=list)


@dataclass(frozen=True)
class StreamEntry:
    """One item of the change stream: a conversation, a deletion (the conversation's id)
    or a message, and the point just after it (what resumes the stream after it)."""

    after: cursors.SyncPoint
    item: Conversation | uuid.UUID | Message


def sync_horizon(*, user) -> int:
    """The user's newest change number. Every change up to it has committed (each held
    the counter's lock to commit), so reads bounded by it agree on one prefix of the
    stream although each runs in its own snapshot: without the bound, a deletion that
    committed between the read of conversations and the read of deletions could be
    taken while a conversation change numbered before it was missed."""
    values = ChangeCounter.objects.filter(owner=user).values_list("value", flat=True)
    return next(iter(values), 0)


def current_sync_token(*, user) -> str:
    """The sync token of the user's change stream as it is now. A page read after it and
    following the event stream from it (``since``) misses no change made meanwhile; one
    already shown may come again, which the page applies idempotently."""
    return cursors.sync_token(position=sync_horizon(user=user))


def sync_changes(
    *, user, since: int | cursors.SyncPoint, limit: int, include_messages: bool = False
) -> SyncPage:
    """The user's changes after point ``since`` of their change stream, oldest first,
    ``limit`` items at most.

    Conversations and deletions share one per-user sequence (services.next_change_seq),
    and a write's messages stand at its number, after its conversation
    (``sync_messages``), so merging them by place and stopping after ``limit`` gives
    each exactly once to a client that follows the page's end. With messages, the page
    also carries the conversation of each of its messages that it does not otherwise
    carry, in its current state (that conversation comes again at its own place), so a
    client never holds a message of a conversation it has not received; a message
    whose conversation is gone by then is left out (its deletion follows). Queries: a
    fixed number per page, however many messages.
    """
    after = since if isinstance(since, cursors.SyncPoint) else cursors.SyncPoint(change=since)
    if not include_messages:
        after = cursors.SyncPoint(change=after.change)
    horizon = sync_horizon(user=user)
    if after.key() >= (horizon, cursors.MAX_MESSAGE_SEQ):
        return SyncPage(
            conversations=[],
            deleted=[],
            next_since=after.change,
            has_more=False,
            next_message_seq=after.message_seq,
        )
    in_range = {"change_seq__gt": after.change, "change_seq__lte": horizon}
    changed = list(with_tag_names(user=user).filter(**in_range).order_by("change_seq")[: limit + 1])
    deleted = list(
        DeletedConversation.objects.filter(owner=user, **in_range)
        .order_by("change_seq")
        .values_list("change_seq", "conversation_id")[: limit + 1]
    )
    places = (
        sync_messages.places_after(user=user, after=after, horizon=horizon, limit=limit + 1)
        if include_messages
        else []
    )
    stream: list[tuple[tuple[int, int], Any]] = sorted(
        [((c.change_seq, 0), c) for c in changed]
        + [((change, 0), conversation_id) for change, conversation_id in deleted]
        + [(place.key(), place) for place in places],
        key=lambda item: item[0],
    )
    page, rest = stream[:limit], stream[limit:]
    end = _end_of_page(after=after, last=page[-1] if page else None, places=places)
    conversations = [item for _, item in page if isinstance(item, Conversation)]
    messages = sync_messages.messages_at(
        user=user, places=[item for _, item in page if isinstance(item, sync_messages.MessagePlace)]
    )
    if messages:
        # The conversations of all of the page's messages, read whether or not the page
        # holds them already, so a page costs the same queries whatever it holds.
        holders = {
            conversation.id: conversation
            for conversation in with_tag_names(user=user).filter(
                id__in={message.conversation_id for message in messages}
            )
        }
        carried = {conversation.id for conversation in conversations}
        conversations += sorted(
            (holder for holder in holders.values() if holder.id not in carried),
            key=lambda holder: holder.change_seq,
        )
        messages = [message for message in messages if message.conversation_id in holders]
    return SyncPage(
        entries=_entries(page=page, messages=messages),
        conversations=conversations,
        deleted=[item for _, item in page if isinstance(item, uuid.UUID)],
        next_since=end.change,
        has_more=bool(rest),
        messages=messages,
        next_message_seq=end.message_seq,
    )


def _entries(
    *, page: Sequence[tuple[tuple[int, int], Any]], messages: Sequence[Message]
) -> list[StreamEntry]:
    """The page's items at their own places, in order, each with the point after it. A
    conversation's point stands before its change's messages (seq 0), a message's after
    it (after the whole change for its last one); a place whose message is gone (its
    conversation deleted since) has no entry."""
    by_place = {(message.conversation_id, message.seq): message for message in messages}
    entries: list[StreamEntry] = []
    for (change, _), item in page:
        if isinstance(item, Conversation):
            before_its_messages = cursors.SyncPoint(change=change, message_seq=0)
            entries.append(StreamEntry(after=before_its_messages, item=item))
        elif isinstance(item, uuid.UUID):
            entries.append(StreamEntry(after=cursors.SyncPoint(change=change), item=item))
        elif (message := by_place.get((item.conversation_id, item.seq))) is not None:
            seq = None if item.last_of_change else item.seq
            entries.append(
                StreamEntry(after=cursors.SyncPoint(change=change, message_seq=seq), item=message)
            )
    return entries


def _end_of_page(
    *,
    after: cursors.SyncPoint,
    last: tuple[tuple[int, int], Any] | None,
    places: Sequence[sync_messages.MessagePlace],
) -> cursors.SyncPoint:
    """The point after a page's ``last`` (place, item) (none: the page was empty):
    inside a change only while some of that change's messages are still to come."""
    if last is None:
        return after
    (change, _), item = last
    if isinstance(item, sync_messages.MessagePlace):
        return cursors.SyncPoint(
            change=change, message_seq=None if item.last_of_change else item.seq
        )
    # The change's messages, when it stored any, are among ``places``: fewer than
    # ``limit`` of them come before its conversation, which the page holds.
    if any(place.change == change for place in places):
        return cursors.SyncPoint(change=change, message_seq=0)
    return cursors.SyncPoint(change=change)


def export_messages(*, user, conversation: Conversation) -> Iterator[Message]:
    """All of the user's messages in a conversation, in order, streamed in chunks."""
    return (
        access.owned_messages(user=user)
        .filter(conversation=conversation)
        .order_by("seq")
        .iterator(chunk_size=2000)
    )
