"""Writing one legacy conversation into PostgreSQL: the migration command's only write.

One call, one transaction: the conversation (found by ``legacy_key`` under a row lock,
or created) and exactly the messages it does not hold yet, so an interrupted run leaves
whole conversations and the next run carries on. Messages already stored are recognised
by the fingerprint kept in their metadata (``metadata["legacy"]["fingerprint"]``), as the
longest run of stored messages that the key's current messages continue: a list trimmed
at the front and grown at the back still lines up, by content rather than position.
Rows go in with PostgreSQL's COPY; the conversation row changes through ``save_changed``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models.fields.json import KT
from django.utils import timezone

from ..legacy.base import LegacyMessage
from ..models import Conversation, Message
from .conversations import save_changed

_COPY_COLUMNS = (
    "id",
    "conversation_id",
    "seq",
    "role",
    "content",
    "attachments",
    "metadata",
    "client_id",
    "token_count",
    "created_at",
)


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


def _rows(
    conversation: Conversation, messages: Sequence[LegacyMessage], *, after: datetime
) -> list[Message]:
    """Message rows numbered after the conversation's last seq.

    Messages without a timestamp get increasing estimated ones, starting after the
    newest stored message, so the conversation's order and its times agree.
    """
    estimated = after
    rows = []
    for offset, message in enumerate(messages, start=1):
        if message.created_at is None:
            estimated += timedelta(microseconds=1)
            created_at = estimated
        else:
            created_at = message.created_at
            estimated = max(estimated, created_at)
        rows.append(
            Message(
                id=uuid.uuid4(),
                conversation_id=conversation.id,
                seq=conversation.message_count + offset,
                role=message.role,
                content=message.content,
                attachments=[],
                metadata={"legacy": {**message.legacy, "fingerprint": message.fingerprint}},
                created_at=created_at,
            )
        )
    return rows


def _insert(rows: Sequence[Message]) -> None:
    if connection.vendor != "postgresql":
        Message.objects.bulk_create(rows, batch_size=1000)
        return
    table = connection.ops.quote_name(Message._meta.db_table)
    connection.ensure_connection()
    sql = f"COPY {table} ({', '.join(_COPY_COLUMNS)}) FROM STDIN"
    with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(
                (
                    row.id,
                    row.conversation_id,
                    row.seq,
                    row.role,
                    row.content,
                    "[]",
                    json.dumps(row.metadata, ensure_ascii=False),
                    None,
                    None,
                    row.created_at,
                )
            )


def import_legacy_conversation(
    *,
    user,
    legacy_key: str,
    messages: Sequence[LegacyMessage],
    summary: str | None = None,
    dry_run: bool = False,
    durable: bool = True,
) -> ImportOutcome:
    """Bring one legacy key's messages into its conversation, adding only what is new.

    ``dry_run`` computes the same outcome and writes nothing. ``durable=False`` lets
    the commit return before the WAL reaches disk: a database crash may then lose the
    last commits, which a re-run imports again; callers that delete the source after
    the commit must keep it durable.
    """
    with transaction.atomic():
        if not durable and not dry_run and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        queryset = Conversation.objects.filter(legacy_key=legacy_key)
        conversation = (queryset if dry_run else queryset.select_for_update()).first()
        if conversation is not None and conversation.owner_id != user.pk:
            return ImportOutcome(refused="conversation belongs to another user")
        stored = (
            _stored_fingerprints(conversation, limit=len(messages))
            if conversation is not None
            else []
        )
        present = overlap(stored, [message.fingerprint for message in messages])
        new = messages[present:]
        created = conversation is None
        summary_changed = bool(summary) and (created or conversation.summary != summary)
        if dry_run or (not new and not summary_changed):
            return ImportOutcome(
                created=created and bool(new), imported=len(new), already_present=present
            )
        if created:
            now = timezone.now()
            conversation = Conversation.objects.create(
                owner=user,
                legacy_key=legacy_key,
                created_at=now,
                updated_at=now,
                last_activity_at=now,
            )
        fields = []
        if new:
            after = max(timezone.now(), conversation.last_activity_at)
            rows = _rows(conversation, new, after=after)
            _insert(rows)
            newest = max(row.created_at for row in rows)
            if created:
                # The conversation is as old as its messages, not as this run.
                conversation.created_at = min(row.created_at for row in rows)
                conversation.last_activity_at = newest
                fields.append("created_at")
            conversation.message_count += len(rows)
            conversation.preview = rows[-1].content[:200]
            conversation.last_activity_at = max(conversation.last_activity_at, newest)
            fields += ["message_count", "preview", "last_activity_at"]
        if summary_changed:
            conversation.summary = summary
            fields.append("summary")
        save_changed(conversation, fields=fields)
    return ImportOutcome(created=created, imported=len(new), already_present=present)
