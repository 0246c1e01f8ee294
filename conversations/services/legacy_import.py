"""Writing legacy conversations into PostgreSQL: the migration command's only writes.

``import_legacy_batch`` writes many keys in one transaction (what the command runs);
``import_legacy_conversation`` one key in its own (the fallback for a batch that
failed). Either way each conversation (found by ``legacy_key`` under a row lock, or
created) gets exactly the messages it does not hold yet, all or nothing, so an
interrupted run leaves whole conversations and the next run carries on. Messages
already stored are recognised by the fingerprint kept in their metadata
(``metadata["legacy"]["fingerprint"]``), as the longest run of stored messages that the
key's current messages continue: a list trimmed
at the front and grown at the back still lines up, by content rather than position.
A legacy summary is applied only while Numina has no summary of its own
(``summary_covers_seq`` 0): once Numina has summarized, its summary and the messages it
covers go together, and a legacy one written over it would leave those messages in
neither the summary nor the context. Rows go in with PostgreSQL's COPY, each under the
row before it (the first under the conversation's current message), so a key's messages
extend the branch being shown and the last becomes current, with no query per message;
an existing conversation row changes through ``save_changed`` and a new one takes
``next_change_seq`` (as ``create_conversation`` does), each naming the seqs it stored,
so sync sees every import and its messages.
``stored_conversations`` looks a whole batch of keys up at once, so new and unchanged
keys skip the per-key lookups of the locked path.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Window
from django.db.models.fields.json import KT
from django.db.models.functions import RowNumber
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from numina import metrics

from ..legacy.base import LegacyMessage
from ..models import Conversation, Message
from .conversations import next_change_seq, save_changed, save_conversations

MESSAGE_COPY_COLUMNS = (
    "id",
    "conversation_id",
    "owner_id",
    "seq",
    "parent_id",
    "depth",
    "role",
    "content",
    "attachments",
    "metadata",
    "created_at",
)


REFUSED = "conversation belongs to another user"


@dataclass(frozen=True)
class ImportOutcome:
    created: bool = False
    imported: int = 0
    already_present: int = 0
    # Why nothing was written for a key that had messages, e.g. another owner's row.
    refused: str | None = None


def overlap(stored: Sequence[str], current: Sequence[str]) -> int:
    """The length of the longest suffix of ``stored`` that is a prefix of ``current``.

    Knuth-Morris-Pratt's prefix function over current + separator + stored: linear
    however long the lists and however often a message repeats.
    """
    sequence = [*current, None, *stored]
    prefix = [0] * len(sequence)
    for i in range(1, len(sequence)):
        k = prefix[i - 1]
        while k and sequence[i] != sequence[k]:
            k = prefix[k - 1]
        if sequence[i] == sequence[k] and sequence[i] is not None:
            k += 1
        prefix[i] = k
    return prefix[-1] if stored else 0


def _stored_fingerprints(conversation: Conversation, *, limit: int) -> list[str]:
    """The fingerprints of the newest ``limit`` stored messages, oldest first."""
    rows = (
        # Only imported messages: ones the user added in Numina since do not break the
        # overlap with the source.
        Message.objects.filter(conversation=conversation, metadata__legacy__has_key="fingerprint")
        .order_by("-seq")
        .values_list(KT("metadata__legacy__fingerprint"), flat=True)[:limit]
    )
    return list(rows)[::-1]


# A row as ``_rows`` builds it, in this order (plain tuples: see ``_rows``).
Row = tuple[uuid.UUID, int, uuid.UUID | None, int, str, str, str, str, datetime]
SEQ: Final = 1
CONTENT: Final = 5
CREATED_AT: Final = 8


def _attachments_json(attachments: Sequence[Any]) -> str:
    """A legacy message's attachment strings as JSON text for COPY (kept on the message)."""
    return _metadata_json(list(attachments))


def _metadata_json(metadata: Any) -> str:
    """A message's metadata as JSON text for COPY. orjson: json.dumps costs more per
    message than the COPY itself; json.dumps still takes what orjson refuses (integers
    past 64 bits, lone surrogates: the latter then fails the key at the COPY, reported)."""
    try:
        return orjson.dumps(metadata).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(metadata, ensure_ascii=False)


def _rows(
    messages: Sequence[LegacyMessage],
    *,
    first_seq: int,
    after: datetime,
    parent_id: uuid.UUID | None,
    parent_depth: int,
) -> list[Row]:
    """Rows (id, seq, parent_id, depth, role, content, attachments JSON, metadata JSON,
    created_at)
    numbered from ``first_seq``, the first under ``parent_id`` (at ``parent_depth``;
    None and 0 for a conversation without messages), each next under the one before.

    Plain tuples, not model instances: building 100,000 of those costs more than the
    COPY. Messages without a timestamp get increasing estimated ones, starting after
    ``after`` (the newest stored message), so the conversation's order and times agree.
    """
    estimated = after
    rows: list[Row] = []
    parent = parent_id
    depth = parent_depth
    for seq, message in enumerate(messages, start=first_seq):
        if message.created_at is None:
            estimated += timedelta(microseconds=1)
            created_at = estimated
        else:
            created_at = message.created_at
            estimated = max(estimated, created_at)
        metadata = {"legacy": {**message.legacy, "fingerprint": message.fingerprint}}
        id_ = uuid.uuid4()
        depth += 1
        rows.append(
            (
                id_,
                seq,
                parent,
                depth,
                message.role,
                message.content,
                _attachments_json(message.attachments),
                _metadata_json(metadata),
                created_at,
            )
        )
        parent = id_
    return rows


def _copy_row(row: Row, *, conversation_id: uuid.UUID, owner_id: Any) -> tuple:
    """One message row's values in MESSAGE_COPY_COLUMNS order: the one place, with that
    list, that a column copied from the legacy data is added to."""
    id_, seq, parent_id, depth, role, content, attachments, metadata, created_at = row
    return (
        id_,
        conversation_id,
        owner_id,
        seq,
        parent_id,
        depth,
        role,
        content,
        attachments,
        metadata,
        created_at,
    )


# JSON columns among MESSAGE_COPY_COLUMNS: COPY takes their text, the ORM their value.
_JSON_COLUMNS: Final = frozenset({"attachments", "metadata"})

# (conversation id, owner id, its new rows): what one COPY writes, for many conversations.
Batch = Sequence[tuple[uuid.UUID, Any, Sequence[Row]]]


def copy_message_rows(batch: Batch) -> int:
    """Write the rows of many conversations with one COPY; returns the rows written.

    search_vector is filled by the table's own trigger (0003). Public for the
    benchmark, whose floor is this same statement over the same rows.
    """
    total = sum(len(rows) for _, _, rows in batch)
    if total:
        transaction.on_commit(lambda: metrics.legacy_messages_migrated.inc(total))
    if connection.vendor != "postgresql":  # the embedded SQLite default
        messages = []
        for conversation_id, owner_id, rows in batch:
            for row in rows:
                values = dict(
                    zip(
                        MESSAGE_COPY_COLUMNS,
                        _copy_row(row, conversation_id=conversation_id, owner_id=owner_id),
                        strict=True,
                    )
                )
                for name in _JSON_COLUMNS & values.keys():
                    values[name] = json.loads(values[name])
                messages.append(Message(**values))
        Message.objects.bulk_create(messages, batch_size=1000)
        return total
    if not total:
        return 0
    table = connection.ops.quote_name(Message._meta.db_table)
    connection.ensure_connection()
    sql = f"COPY {table} ({', '.join(MESSAGE_COPY_COLUMNS)}) FROM STDIN"
    with connection.connection.cursor() as cursor:
        # A worker thread sends the data (QueuedLibpqWriter), so formatting the next
        # rows overlaps the server's work on the previous ones (trigger, indexes).
        copy_context = cursor.copy(sql, writer=QueuedLibpqWriter(cursor))
        with copy_context as copy:
            for conversation_id, owner_id, rows in batch:
                for row in rows:
                    copy.write_row(
                        _copy_row(row, conversation_id=conversation_id, owner_id=owner_id)
                    )
    return total


def _insert(*, conversation_id: uuid.UUID, owner_id: Any, rows: Sequence[Row]) -> None:
    copy_message_rows([(conversation_id, owner_id, rows)])


@contextmanager
def relaxed_commits() -> Iterator[None]:
    """Let commits return before the WAL reaches disk, for the length of a run.

    A crash of the database server may then lose the last commits, which the next run
    imports again (the import is idempotent); a client killed mid-run loses nothing.
    A run that deletes the source after each commit must not use it.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")


def refresh_planner_statistics() -> None:
    """ANALYZE the conversation and message tables, after a run that wrote many rows.

    A run into a nearly empty table leaves PostgreSQL planning with the statistics of
    that empty table until autovacuum gets round to it: measured on a re-run right
    after 100,000 keys were imported, the batch lookup (``stored_conversations``) took
    85 ms per 500 keys before ANALYZE and 37 ms after. ANALYZE reads a sample (30,000
    rows by default), not the table, so it costs a fraction of a second."""
    if connection.vendor != "postgresql":
        return
    tables = [connection.ops.quote_name(m._meta.db_table) for m in (Conversation, Message)]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {table}")


def _create(
    *, user, legacy_key: str, messages: Sequence[LegacyMessage], summary: str | None
) -> ImportOutcome:
    conversation_id = uuid.uuid4()
    now = timezone.now()
    rows = _rows(messages, first_seq=1, after=now, parent_id=None, parent_depth=0)
    # Messages before their conversation: the foreign key is checked at commit
    # (deferred), and the owner's change number is taken last, as every write does, so
    # its lock is held only for the one INSERT.
    _insert(conversation_id=conversation_id, owner_id=user.pk, rows=rows)
    transaction.on_commit(lambda: metrics.conversations_created.labels(source="legacy").inc())
    times = [row[CREATED_AT] for row in rows] or [now]
    Conversation.objects.create(
        id=conversation_id,
        owner=user,
        legacy_key=legacy_key,
        summary=summary or "",
        message_count=len(rows),
        current_message_id=rows[-1][0] if rows else None,
        preview=rows[-1][CONTENT][:200] if rows else "",
        last_activity_at=max(times),
        created_at=min(times),
        updated_at=now,
        change_seq=next_change_seq(
            owner_id=user.pk,
            conversation_id=conversation_id,
            stored_seqs=(rows[0][SEQ], rows[-1][SEQ]) if rows else None,
        ),
    )
    return ImportOutcome(created=True, imported=len(rows))


def takes_legacy_summary(*, summary: str | None, stored_summary: str, covers_seq: int) -> bool:
    """Whether a key's legacy summary replaces the stored one.

    Only while the stored summary is not Numina's own: ``covers_seq`` > 0 means Numina's
    summaries took over, and the messages they cover are left out of the context.
    """
    return bool(summary) and covers_seq == 0 and stored_summary != summary


@dataclass(frozen=True)
class StoredConversation:
    """What a batch lookup found for one legacy key (see ``stored_conversations``)."""

    owner_id: Any
    summary: str
    fingerprints: tuple[str, ...]  # of the newest imported messages, oldest first
    summary_covers_seq: int = 0


def _newest_fingerprints(
    conversation_ids: Sequence[uuid.UUID], *, limit: int
) -> dict[uuid.UUID, list[str]]:
    """The fingerprints of each conversation's newest ``limit`` imported messages,
    oldest first, in one query (a window per conversation); absent: none."""
    fingerprints: dict[uuid.UUID, list[str]] = {}
    if not conversation_ids or not limit:
        return fingerprints
    newest = (
        Message.objects.filter(
            conversation_id__in=conversation_ids, metadata__legacy__has_key="fingerprint"
        )
        .annotate(
            rank=Window(RowNumber(), partition_by=F("conversation_id"), order_by=F("seq").desc())
        )
        .filter(rank__lte=limit)
        .order_by("conversation_id", "seq")
        .values_list("conversation_id", KT("metadata__legacy__fingerprint"))
    )
    for conversation_id, fingerprint in newest:
        fingerprints.setdefault(conversation_id, []).append(fingerprint)
    return fingerprints


def stored_conversations(
    *, legacy_keys: Sequence[str], limit: int
) -> dict[str, StoredConversation]:
    """The conversations already imported for a batch of keys, in two queries.

    A hint, read without locks: it lets a new key go straight to its INSERT and an
    unchanged key finish without a transaction of its own. Every write still takes
    the locked path's word (``import_legacy_conversation``).
    """
    rows = Conversation.objects.filter(legacy_key__in=legacy_keys).values_list(
        "id", "legacy_key", "owner_id", "summary", "summary_covers_seq"
    )
    # legacy_key__in matched, so none of these keys is NULL.
    found: dict[uuid.UUID, tuple[str, Any, str, int]] = {
        id_: (str(legacy_key), owner_id, summary, covers)
        for id_, legacy_key, owner_id, summary, covers in rows
    }
    fingerprints = _newest_fingerprints(list(found), limit=limit)
    return {
        legacy_key: StoredConversation(
            owner_id=owner_id,
            summary=summary,
            fingerprints=tuple(fingerprints.get(id_, ())),
            summary_covers_seq=covers,
        )
        for id_, (legacy_key, owner_id, summary, covers) in found.items()
    }


# ``stored`` argument meaning "no batch lookup was made": take the locked path at once.
NOT_LOOKED_UP: Any = object()


@dataclass(frozen=True)
class LegacyImport:
    """One key's import as ``import_legacy_batch`` takes it."""

    user: Any
    legacy_key: str
    messages: Sequence[LegacyMessage]
    summary: str | None = None
    # This key's entry from ``stored_conversations`` (None: not imported yet).
    stored: Any = NOT_LOOKED_UP  # StoredConversation | None | NOT_LOOKED_UP


def _settled(item: LegacyImport, *, dry_run: bool) -> ImportOutcome | None:
    """The outcome the batch lookup alone settles (nothing to write), else None."""
    stored = item.stored
    if stored is NOT_LOOKED_UP:
        return None
    if stored is None:
        return (
            ImportOutcome(created=bool(item.messages), imported=len(item.messages))
            if dry_run
            else None
        )
    # Not access.conversation_for: a legacy key is unique across all users, and one
    # another user holds must be refused, not taken for "none yet" and created.
    if stored.owner_id != item.user.pk:
        return ImportOutcome(refused=REFUSED)
    present = overlap(stored.fingerprints, [message.fingerprint for message in item.messages])
    summary_changed = takes_legacy_summary(
        summary=item.summary, stored_summary=stored.summary, covers_seq=stored.summary_covers_seq
    )
    if dry_run or (present == len(item.messages) and not summary_changed):
        return ImportOutcome(imported=len(item.messages) - present, already_present=present)
    return None


def import_legacy_conversation(
    *,
    user,
    legacy_key: str,
    messages: Sequence[LegacyMessage],
    summary: str | None = None,
    dry_run: bool = False,
    stored: StoredConversation | None = NOT_LOOKED_UP,
) -> ImportOutcome:
    """Bring one legacy key's messages into its conversation, adding only what is new.

    ``stored`` is this key's entry from ``stored_conversations`` (None: not imported
    yet); with it, most keys skip the lookups of the locked path. ``dry_run`` computes
    the same outcome and writes nothing.
    """
    item = LegacyImport(
        user=user, legacy_key=legacy_key, messages=messages, summary=summary, stored=stored
    )
    settled = _settled(item, dry_run=dry_run)
    if settled is not None:
        return settled
    if stored is None:
        try:
            with transaction.atomic():
                return _create(user=user, legacy_key=legacy_key, messages=messages, summary=summary)
        except IntegrityError:
            pass  # another run created it since the lookup: the locked path decides
    return _import_locked(
        user=user, legacy_key=legacy_key, messages=messages, summary=summary, dry_run=dry_run
    )


def import_legacy_batch(
    *, imports: Sequence[LegacyImport], dry_run: bool = False
) -> list[ImportOutcome]:
    """Many keys in one transaction, their outcomes in the same order.

    All of the batch commits or none of it, so a run killed at any point leaves whole
    batches and a re-run finds each key either fully stored or not at all. The batch
    costs one row-lock query, one fingerprint query, one COPY for every new message,
    one INSERT of the new conversations, one UPDATE of the grown ones and one counter
    upsert per owner, instead of a transaction and those statements per key.

    Keys the batch lookup already settles (unchanged, another owner's) write nothing.
    Any error rolls the whole batch back and is raised, so the caller can import that
    batch key by key (``import_legacy_conversation``): one bad key then costs its
    batch's speed, never its neighbours' messages. The legacy keys must be distinct.
    """
    outcomes = [_settled(item, dry_run=dry_run) for item in imports]
    pending = [index for index, outcome in enumerate(outcomes) if outcome is None]
    if dry_run:  # only keys without a lookup are left: the locked path reads, writes nothing
        for index in pending:
            item = imports[index]
            outcomes[index] = _import_locked(
                user=item.user,
                legacy_key=item.legacy_key,
                messages=item.messages,
                summary=item.summary,
                dry_run=True,
            )
    elif pending:
        with transaction.atomic():
            written = _write_batch([imports[index] for index in pending])
        for index, outcome in zip(pending, written, strict=True):
            outcomes[index] = outcome
    return [outcome or ImportOutcome() for outcome in outcomes]


def _write_batch(items: Sequence[LegacyImport]) -> list[ImportOutcome]:
    """``import_legacy_batch``'s writes, inside its transaction.

    The same decisions as ``_import_locked``, key by key, from rows locked in one query
    (in id order, so two runs over the same keys lock them in the same order).
    """
    keys = [item.legacy_key for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError("a legacy key appears twice in one batch")
    locked = {
        conversation.legacy_key: conversation
        for conversation in Conversation.objects.filter(legacy_key__in=keys)
        .annotate(current_depth=F("current_message__depth"))
        .select_for_update(of=("self",))
        .order_by("id")
    }
    fingerprints = _newest_fingerprints(
        [conversation.id for conversation in locked.values()],
        limit=max((len(item.messages) for item in items), default=0),
    )
    now = timezone.now()
    copies: list[tuple[uuid.UUID, Any, Sequence[Row]]] = []
    created: list[tuple[Conversation, tuple[int, int] | None]] = []
    changed: list[tuple[Conversation, tuple[int, int] | None]] = []
    fields: set[str] = set()
    outcomes = []
    for item in items:
        conversation = locked.get(item.legacy_key)
        if conversation is None:
            if not (item.messages or item.summary):
                outcomes.append(ImportOutcome())
                continue
            new_conversation, rows = _new_conversation(item, now=now)
            copies.append((new_conversation.id, new_conversation.owner_id, rows))
            created.append((new_conversation, _seqs(rows)))
            outcomes.append(ImportOutcome(created=True, imported=len(rows)))
            continue
        if conversation.owner_id != item.user.pk:  # found by legacy_key: see _settled
            outcomes.append(ImportOutcome(refused=REFUSED))
            continue
        count = len(item.messages)
        stored = fingerprints.get(conversation.id, [])[-count:] if count else []
        present = overlap(stored, [message.fingerprint for message in item.messages])
        new = item.messages[present:]
        summary_changed = takes_legacy_summary(
            summary=item.summary,
            stored_summary=conversation.summary,
            covers_seq=conversation.summary_covers_seq,
        )
        outcomes.append(ImportOutcome(imported=len(new), already_present=present))
        if not new and not summary_changed:
            continue
        rows = []
        if new:
            rows = _grow(conversation, new, now=now)
            copies.append((conversation.id, conversation.owner_id, rows))
            fields |= {"message_count", "current_message", "preview", "last_activity_at"}
        if summary_changed:
            conversation.summary = item.summary or ""
            fields.add("summary")
        changed.append((conversation, _seqs(rows)))
    # Messages before their conversations: the foreign keys are checked at commit
    # (deferred); the change numbers are taken last, as every write does.
    copy_message_rows(copies)
    save_conversations(created=created, changed=changed, fields=sorted(fields))
    if created:
        transaction.on_commit(
            lambda: metrics.conversations_created.labels(source="legacy").inc(len(created))
        )
    return outcomes


def _seqs(rows: Sequence[Row]) -> tuple[int, int] | None:
    return (rows[0][SEQ], rows[-1][SEQ]) if rows else None


def _new_conversation(item: LegacyImport, *, now: datetime) -> tuple[Conversation, list[Row]]:
    """A new conversation (not saved: its change number comes last) and its rows."""
    conversation_id = uuid.uuid4()
    rows = _rows(item.messages, first_seq=1, after=now, parent_id=None, parent_depth=0)
    times = [row[CREATED_AT] for row in rows] or [now]
    conversation = Conversation(
        id=conversation_id,
        owner_id=item.user.pk,
        legacy_key=item.legacy_key,
        summary=item.summary or "",
        message_count=len(rows),
        current_message_id=rows[-1][0] if rows else None,
        preview=rows[-1][CONTENT][:200] if rows else "",
        last_activity_at=max(times),
        created_at=min(times),
        updated_at=now,
    )
    return conversation, rows


def _grow(conversation: Conversation, new: Sequence[LegacyMessage], *, now: datetime) -> list[Row]:
    """Rows for ``new`` under the conversation's current message; the row in memory
    takes its new count, current message, preview and last activity (saved later)."""
    rows = _rows(
        new,
        first_seq=conversation.message_count + 1,
        after=max(now, conversation.last_activity_at),
        parent_id=conversation.current_message_id,
        parent_depth=conversation.current_depth or 0,  # type: ignore[attr-defined]
    )
    conversation.message_count += len(rows)
    conversation.current_message_id = rows[-1][0]
    conversation.preview = rows[-1][CONTENT][:200]
    conversation.last_activity_at = max(
        conversation.last_activity_at, max(row[CREATED_AT] for row in rows)
    )
    return rows


def _import_locked(
    *,
    user,
    legacy_key: str,
    messages: Sequence[LegacyMessage],
    summary: str | None,
    dry_run: bool,
) -> ImportOutcome:
    """The import under the conversation's row lock: the path every write relies on."""
    with transaction.atomic():
        # The current message's depth comes with the row (a join, in the same query): the
        # new messages go under it. Only the conversation's row is locked.
        queryset = Conversation.objects.filter(legacy_key=legacy_key).annotate(
            current_depth=F("current_message__depth")
        )
        if not dry_run:
            queryset = queryset.select_for_update(of=("self",))
        # Not .first(): its ORDER BY id makes PostgreSQL sort instead of a plain lookup.
        conversation = next(iter(queryset[:1]), None)
        if conversation is None:
            if dry_run or not (messages or summary):
                return ImportOutcome(created=bool(messages), imported=len(messages))
            return _create(user=user, legacy_key=legacy_key, messages=messages, summary=summary)
        if conversation.owner_id != user.pk:  # found by legacy_key: see _settled
            return ImportOutcome(refused=REFUSED)
        stored = _stored_fingerprints(conversation, limit=len(messages))
        present = overlap(stored, [message.fingerprint for message in messages])
        new = messages[present:]
        summary_changed = takes_legacy_summary(
            summary=summary,
            stored_summary=conversation.summary,
            covers_seq=conversation.summary_covers_seq,
        )
        if dry_run or (not new and not summary_changed):
            return ImportOutcome(imported=len(new), already_present=present)
        fields = []
        stored_seqs = None
        if new:
            rows = _grow(conversation, new, now=timezone.now())
            _insert(conversation_id=conversation.id, owner_id=conversation.owner_id, rows=rows)
            stored_seqs = _seqs(rows)
            fields += ["message_count", "current_message", "preview", "last_activity_at"]
        if summary_changed:
            conversation.summary = summary or ""
            fields.append("summary")
        save_changed(conversation, fields=fields, stored_seqs=stored_seqs)
    return ImportOutcome(imported=len(new), already_present=present)
