"""Reads of a conversation's tree of messages: a branch, a leaf, a message's versions,
and the retrieve endpoint's read of a conversation with the newest messages of its
current branch (with that read's cache policy beside it), so that path, from the view to
the SQL, needs this selector module and no other.

A branch is the path from a first message down to a leaf, read upwards from its last
message by its ``parent`` links. Each read is one query whatever the depth of the tree:
a recursive CTE (PostgreSQL and SQLite both have them; the ORM has no recursive
queries, and django-cte would add a dependency for two statements), used as a subquery
so the caller keeps an ordinary queryset. The walk up is bounded by the number of
messages asked for, so the newest n of a branch cost n index lookups, not the depth.
Every function takes a conversation the caller already holds through ``access``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.models import User
from numina.compiled import CompiledQuery

from .. import access, cache
from ..models import Conversation, Message, MessageFile, UserFile

_TABLE = Message._meta.db_table
RETRIEVE_SHAPE = "retrieve:v2"


def _key(value: uuid.UUID) -> Any:
    # The SQLite embedded default stores UUIDs as 32 hex digits; raw SQL must match it.
    return value.hex if connection.vendor == "sqlite" else value


def _branch_ids(
    *, conversation_id: uuid.UUID, leaf_id: uuid.UUID, limit: int | None, after_seq: int
) -> RawSQL:
    """The ids of the branch ending at ``leaf_id``: ``limit`` of them at most (None: all),
    none at or below ``after_seq``. A parent is always stored before its child, so seq
    falls on the way up: the walk stops at the first message at or below ``after_seq``
    (a client reading only what is new walks only the new part)."""
    table = connection.ops.quote_name(_TABLE)
    params: list[Any] = [_key(leaf_id), _key(conversation_id), after_seq, after_seq]
    bound = ""
    if limit is not None:
        bound = "AND up.n < %s"
        params.append(limit)
    # The model's quoted table name; every value is a parameter.
    return RawSQL(  # noqa: S611
        f"WITH RECURSIVE up(id, parent_id, n) AS ("  # noqa: S608
        f"SELECT id, parent_id, 1 FROM {table} "
        f"WHERE id = %s AND conversation_id = %s AND seq > %s "
        f"UNION ALL SELECT m.id, m.parent_id, up.n + 1 FROM {table} m "
        f"JOIN up ON m.id = up.parent_id WHERE m.seq > %s {bound}"
        f") SELECT id FROM up",
        params,
    )


def branch(
    *,
    conversation_id: uuid.UUID,
    leaf_id: uuid.UUID | None,
    limit: int | None = None,
    after_seq: int = 0,
    within: QuerySet[Message] | None = None,
) -> QuerySet[Message]:
    """The messages of the branch that ends at ``leaf_id`` (the newest ``limit`` of them,
    None: all; only those after ``after_seq``), as a queryset in seq order: the path from
    the first message down, since a message is always stored after its parent. No leaf
    (no messages yet): empty. ``within``: the messages to read them from (the ownership
    door's, say), narrowed here rather than combined with ``&`` afterwards, which costs
    the ORM a second query to build and merge on every hot read."""
    messages = within if within is not None else Message.objects.all()
    if leaf_id is None or limit == 0:
        return messages.none()
    ids = _branch_ids(
        conversation_id=conversation_id, leaf_id=leaf_id, limit=limit, after_seq=after_seq
    )
    return messages.filter(conversation_id=conversation_id, pk__in=ids).order_by("seq")


def newest_leaf(*, conversation_id: uuid.UUID, message_id: uuid.UUID) -> uuid.UUID | None:
    """The leaf reached from ``message_id`` by always taking the newest child (highest
    seq): where a branch switch to that message lands. None when the message is not one
    of the conversation's."""
    table = connection.ops.quote_name(_TABLE)
    with connection.cursor() as cursor:
        # One statement however long the way down: each step is the scalar subquery
        # "newest child of the previous step", and the walk stops when there is none.
        cursor.execute(
            f"WITH RECURSIVE down(id, n) AS ("  # noqa: S608
            f"SELECT id, 0 FROM {table} WHERE id = %s AND conversation_id = %s "
            f"UNION ALL SELECT (SELECT c.id FROM {table} c WHERE c.parent_id = down.id "
            f"ORDER BY c.seq DESC LIMIT 1), down.n + 1 FROM down WHERE down.id IS NOT NULL"
            f") SELECT id FROM down WHERE id IS NOT NULL ORDER BY n DESC LIMIT 1",
            [_key(message_id), _key(conversation_id)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(row[0])


# The hot reads (issue 19) give their messages as ``values()`` rows, every other read as
# model instances: the two functions below read and set a field on either.
MessageRow = Any  # a Message, or a dict of its answer's columns


def message_field(message: MessageRow, name: str) -> Any:
    return message[name] if isinstance(message, dict) else getattr(message, name)


def _set(message: MessageRow, name: str, value: Any) -> None:
    if isinstance(message, dict):
        message[name] = value
    else:
        setattr(message, name, value)


def _sibling_ids_column() -> RawSQL:
    """Each row's ``sibling_ids`` as a column of the query that reads the row
    (PostgreSQL's ``ARRAY(subquery)``), so a hot read costs one query less than with
    ``attach_sibling_ids``: the same versions in the same order, looked up per row by
    the parent's index (``message_roots`` for first messages). The two branches of the
    CASE keep both lookups on an index, which ``IS NOT DISTINCT FROM`` would not."""
    table = connection.ops.quote_name(_TABLE)
    # The model's quoted table name, twice as the outer row's: no value goes in here.
    return RawSQL(  # noqa: S611
        f"CASE WHEN {table}.parent_id IS NULL THEN ARRAY("  # noqa: S608
        f"SELECT s.id FROM {table} s WHERE s.conversation_id = {table}.conversation_id "
        f"AND s.parent_id IS NULL ORDER BY s.seq) "
        f"ELSE ARRAY(SELECT s.id FROM {table} s WHERE s.parent_id = {table}.parent_id "
        f"ORDER BY s.seq) END",
        [],
    )


def answer_rows(messages: QuerySet[Message], *, columns: Sequence[str]) -> QuerySet:
    """``messages`` as ``values()`` rows of ``columns`` (the hot reads' answers), each with
    its ``sibling_ids`` read in the same query where the database can (PostgreSQL).
    Whatever the database, give the rows read to ``complete_answer_rows``."""
    if connection.vendor == "postgresql":
        return messages.values(*columns, sibling_ids=_sibling_ids_column())
    return messages.values(*columns)


def complete_answer_rows(*, rows: Sequence[dict], conversation_id: uuid.UUID | None = None) -> None:
    """What ``answer_rows`` could not read with them: the ``sibling_ids`` on SQLite (one
    query), and the files (none unless a row names one)."""
    if rows and "sibling_ids" not in rows[0]:
        attach_sibling_ids(messages=rows, conversation_id=conversation_id)
    else:
        attach_files(messages=rows)


def attach_sibling_ids(
    *, messages: Sequence[MessageRow], conversation_id: uuid.UUID | None = None
) -> None:
    """Set ``sibling_ids`` on each message (a model instance, or a ``values()`` row of the
    hot reads): the versions at its point of the conversation (the messages with the same
    parent), in seq order, itself included. ``conversation_id``: the one conversation all
    of them are of; None: messages of any conversations (sync's page), each judged within
    its own. One query for the whole sequence; none when it is empty."""
    if not messages:
        return
    parents = {
        message_field(message, "parent_id")
        for message in messages
        if message_field(message, "parent_id") is not None
    }
    # A parent's children are all of its conversation; first messages (no parent) are
    # siblings only within one conversation.
    among = Q(parent_id__in=parents)
    roots = {
        message_field(message, "conversation_id")
        for message in messages
        if message_field(message, "parent_id") is None
    }
    if roots:
        among |= Q(parent__isnull=True, conversation_id__in=roots)
    rows = Message.objects.filter(among)
    if conversation_id is not None:
        rows = rows.filter(conversation_id=conversation_id)
    versions: dict[tuple[uuid.UUID, uuid.UUID | None], list[uuid.UUID]] = defaultdict(list)
    for conversation, parent_id, message_id in rows.order_by("seq").values_list(
        "conversation_id", "parent_id", "id"
    ):
        versions[conversation, parent_id].append(message_id)
    for message in messages:
        key = (message_field(message, "conversation_id"), message_field(message, "parent_id"))
        _set(message, "sibling_ids", versions[key])  # read by MessageSerializer
    # Every answer that shows messages comes through here: their files come with them.
    attach_files(messages=messages)


def current_branches(*, conversations: Sequence[Any]) -> QuerySet[Message]:
    """The messages of each conversation's current branch (the one its
    ``current_message_id`` ends), all of them, ordered by conversation id and then seq:
    one query for any number of conversations (the same recursive walk up as
    ``branch``, started at every leaf at once). The conversations are the caller's,
    already found through ``access``; those without messages add nothing."""
    leaves = [c.current_message_id for c in conversations if c.current_message_id is not None]
    if not leaves:
        return Message.objects.none()
    table = connection.ops.quote_name(_TABLE)
    starts = ", ".join(["%s"] * len(leaves))
    # The model's quoted table name and one placeholder per leaf; every value a parameter.
    # The walk stays inside each leaf's conversation (a parent is of the same one).
    ids = RawSQL(  # noqa: S611
        f"WITH RECURSIVE up(id, parent_id) AS ("  # noqa: S608
        f"SELECT id, parent_id FROM {table} WHERE id IN ({starts}) "
        f"UNION ALL SELECT m.id, m.parent_id FROM {table} m JOIN up ON m.id = up.parent_id"
        f") SELECT id FROM up",
        [_key(leaf) for leaf in leaves],
    )
    return Message.objects.filter(
        conversation_id__in=[c.id for c in conversations], pk__in=ids
    ).order_by("conversation_id", "seq")


def _message_window(messages: int | None) -> int:
    """How many of the newest messages a retrieve returns: NUMINA_RETRIEVE_MESSAGES by
    default, 0 to NUMINA_RETRIEVE_MESSAGES_MAX when asked."""
    if messages is None:
        return settings.NUMINA_RETRIEVE_MESSAGES
    limit = settings.NUMINA_RETRIEVE_MESSAGES_MAX
    if not isinstance(messages, int) or not 0 <= messages <= limit:
        raise ValidationError({"messages": [f"Ensure this value is between 0 and {limit}."]})
    return messages


def recent_messages(
    *, user, conversation: Conversation, limit: int, columns: Sequence[str] | None = None
) -> list[MessageRow]:
    """The newest ``limit`` messages of the current branch of the user's conversation
    (which the caller got through ``access``), oldest first, with their ``sibling_ids``:
    two queries however deep the tree (none for 0). ``columns``: only these, as
    ``values()`` rows (the hot read's answer; one query on PostgreSQL, ``answer_rows``,
    compiled once: ``RECENT_ROWS``), else model instances."""
    if limit <= 0:
        return []
    if columns:
        if conversation.current_message_id is None:
            return []
        rows = RECENT_ROWS.rows(
            shape={"columns": tuple(columns)},
            user_id=user.pk,
            conversation_id=conversation.id,
            leaf_id=conversation.current_message_id,
            limit=limit,
        )
        complete_answer_rows(rows=rows, conversation_id=conversation.id)
        return rows
    # Scoped by the user as well (one query still): the conversation is trusted, but
    # what is read of it goes through the door like every other read (RECENT_ROWS too).
    owned = branch(
        conversation_id=conversation.id,
        leaf_id=conversation.current_message_id,
        limit=limit,
        within=access.owned_messages(user=user),
    )
    recent = list(owned)
    attach_sibling_ids(messages=recent, conversation_id=conversation.id)
    return recent


def recent_rows_query(
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    leaf_id: uuid.UUID,
    limit: int,
    columns: tuple[str, ...],
) -> QuerySet:
    # The user is only its id here: the door filters by it.
    user = User(pk=user_id)
    owned = branch(
        conversation_id=conversation_id,
        leaf_id=leaf_id,
        limit=limit,
        within=access.owned_messages(user=user),
    )
    return answer_rows(owned, columns=columns)


# The retrieve's branch as the hot read answers it (values() rows of its columns),
# compiled once per thread: building and compiling it cost 0.83 ms of CPU a request, running
# it 0.18 ms (numina/compiled.py).
RECENT_ROWS = CompiledQuery(
    recent_rows_query,
    params={"user_id": uuid.UUID, "conversation_id": uuid.UUID, "leaf_id": uuid.UUID, "limit": int},
)


def conversation_with_recent_messages(
    *,
    user,
    conversation_id: Any,
    messages: int | None,
    shape: Callable[[Conversation], Any],
    message_columns: Sequence[str] | None = None,
) -> cache.CacheableRead:
    """The user's conversation (with its tag names) and the newest ``messages`` messages
    of its current branch (None: the default window, NUMINA_RETRIEVE_MESSAGES), oldest
    first, each with its ``sibling_ids``, as ``conversation.recent`` (``values()`` rows
    of ``message_columns`` when given), shaped by ``shape``. The same number of queries
    however deep the tree.

    Cache policy: only the default window is cached (what opening a chat asks for), as
    the conversation's entry (cache.CONVERSATION); its version is the conversation's
    change number, read with the row before its messages, so any write to the
    conversation makes the entry stale (a branch switch, or a new version that changes
    a message's siblings, is such a write).
    """
    count = _message_window(messages)
    conversation_uuid = access.as_uuid(conversation_id)
    if conversation_uuid is None:
        raise Conversation.DoesNotExist

    def build() -> tuple[int, Any]:
        conversation = access.conversation_with_tag_names_for(
            user=user, conversation_id=conversation_uuid
        )
        conversation.recent = recent_messages(  # type: ignore[attr-defined]  # read by the shape
            user=user, conversation=conversation, limit=count, columns=message_columns
        )
        return conversation.change_seq, shape(conversation)

    if messages is not None:
        return cache.CacheableRead(value=build()[1], cached=None)
    value, was_cached = cache.cached(
        kind=cache.CONVERSATION,
        scope=cache.conversation_scope(owner_id=user.pk, conversation_id=conversation_uuid),
        # The answer's shape (2: with instructions): an entry of an older shape is not read.
        variant=RETRIEVE_SHAPE,
        build=build,
    )
    return cache.CacheableRead(value=value, cached=was_cached)


# --- the files messages carry -------------------------------------------------------------
# Here, beside attach_sibling_ids, which every answer that shows messages calls: the hot
# reads run no module more for them (tests/test_hot_paths.py).

ATTACHMENT_PREFIX = "file:"


def describe(user_file: UserFile) -> dict:
    """A file as a message's answer lists it (API.md: ``{"id", "name", "content_type",
    "size"}``), so a phone can show it without another request."""
    return {
        "id": user_file.id,
        "name": user_file.name,
        "content_type": user_file.content_type,
        "size": user_file.size,
    }


def _names_a_file(message: MessageRow) -> bool:
    return any(
        isinstance(item, str) and item.startswith(ATTACHMENT_PREFIX)
        for item in (message_field(message, "attachments") or ())
    )


def files_by_message(message_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[UserFile]]:
    """Each message's files in attachment order: one query for any number of messages."""
    carried: dict[uuid.UUID, list[UserFile]] = defaultdict(list)
    ids = list(message_ids)
    if not ids:
        return carried
    links = MessageFile.objects.filter(message_id__in=ids).select_related("file")
    for link in links.order_by("message_id", "position"):
        carried[link.message_id].append(link.file)
    return carried


def attach_files(*, messages: Sequence[MessageRow]) -> None:
    """Set ``files`` on each message (read by MessageSerializer and the templates). No
    query unless one of them names a file (``file:<id>`` among its attachments, which
    every message row carries): a page of plain messages costs what it did."""
    naming = [message_field(message, "id") for message in messages if _names_a_file(message)]
    carried = files_by_message(naming)
    for message in messages:
        files = carried.get(message_field(message, "id"), ())
        _set(message, "files", [describe(user_file) for user_file in files])
