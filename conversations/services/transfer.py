"""Export and import of whole conversations (JSON documents and Markdown downloads).

The JSON document keeps the whole tree: every message of every branch in seq order,
each with its ``id`` and ``parent_id``, and the conversation's ``current_message_id``.
Markdown prints the current branch only, as a reader of the chat saw it.

Import makes a new conversation with a new id — importing one file twice gives two
conversations — in one transaction, so a bad message stores nothing at all. The tree
comes back exactly (new ids, the same parents, the same current branch); a document
without parent ids (an export from before branches) is one straight branch. Parents are
resolved by the document's own ids, never looked up in the database, in one pass: an
import costs the same queries for any number of messages and linear work for any shape
of tree.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from numina import metrics

from .. import validation
from ..models import Conversation, Message
from .conversations import NewMessage, clean_new_messages, save_changed, start_import

EXPORT_FORMAT = "numina.conversation"
EXPORT_VERSION = 1


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _conversation_document(conversation: Conversation) -> dict:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "title_set_by_user": conversation.title_set_by_user,
        "summary": conversation.summary,
        "summary_covers_seq": conversation.summary_covers_seq,
        "is_archived": conversation.is_archived,
        "is_pinned": conversation.is_pinned,
        "tags": conversation.tag_list,
        "instructions": conversation.instructions,
        "message_count": conversation.message_count,
        "current_message_id": _id(conversation.current_message_id),
        "client_id": _id(conversation.client_id),
        "created_at": conversation.created_at.isoformat(),
        "last_activity_at": conversation.last_activity_at.isoformat(),
    }


def _message_document(message: Message) -> dict:
    return {
        "id": str(message.id),
        "seq": message.seq,
        "parent_id": _id(message.parent_id),
        "role": message.role,
        "content": message.content,
        "attachments": message.attachments,
        "metadata": message.metadata,
        "client_id": _id(message.client_id),
        "created_at": message.created_at.isoformat(),
    }


def export_json(*, conversation: Conversation, messages: Iterable[Message]) -> Iterator[str]:
    """The JSON export as chunks, so a conversation of any length streams in bounded memory."""
    head = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": timezone.now().isoformat(),
        "conversation": _conversation_document(conversation),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "messages": ['
    for index, message in enumerate(messages):
        yield ("," if index else "") + json.dumps(_message_document(message), ensure_ascii=False)
    yield "]}\n"


def export_markdown(
    *, conversation: Conversation, messages: Iterable[Message], branch_length: int | None = None
) -> Iterator[str]:
    """The current branch as Markdown: ``messages`` are its messages in order, and
    ``branch_length`` how many there are (None: as many as the conversation stores)."""
    yield f"# {conversation.display_title}\n\n"
    tags = ", ".join(conversation.tag_list)
    yield f"- Created: {conversation.created_at.isoformat()}\n"
    shown = conversation.message_count if branch_length is None else branch_length
    if shown == conversation.message_count:
        yield f"- Messages: {shown}\n"
    else:
        yield f"- Messages: {shown} on the current branch ({conversation.message_count} stored)\n"
    if tags:
        yield f"- Tags: {tags}\n"
    if conversation.summary:
        yield f"\n## Summary\n\n{conversation.summary}\n"
    yield "\n## Messages\n"
    for message in messages:
        when = message.created_at.isoformat()
        yield f"\n### {message.role.capitalize()} · {when}\n\n{message.content}\n"


def export_filename(*, conversation: Conversation, extension: str) -> str:
    return f"numina-{conversation.id}.{extension}"


@dataclass(frozen=True)
class ImportedTree:
    """Where each imported message goes, by positions in the import's message list:
    ``parents[i]`` is the position of message i's parent (None: a first message), always
    smaller than i; ``current`` the position of the message whose branch is shown."""

    parents: Sequence[int | None]
    current: int


def straight_branch(count: int) -> ImportedTree | None:
    """Each message under the one before it, the last one shown (None: no messages)."""
    if not count:
        return None
    return ImportedTree(parents=[None, *range(count - 1)], current=count - 1)


def _tree_of(messages: Sequence[Mapping[str, Any]], *, current_message_id: Any) -> ImportedTree:
    """The tree a document's messages name (see ``import_document``), in one pass.

    ``ValidationError`` for an id used twice, a ``parent_id`` that is no earlier message
    of the document (a cycle always has one), or a ``current_message_id`` that is none of
    its messages."""
    errors = validation.FieldErrors()
    positions: dict[uuid.UUID, int] = {}
    parents: list[int | None] = []
    for index, message in enumerate(messages):
        if "parent_id" not in message:
            # An export from before branches: after the message before it.
            parents.append(index - 1 if index else None)
        elif message["parent_id"] is None:
            parents.append(None)
        elif (parent := positions.get(message["parent_id"])) is not None:
            parents.append(parent)
        else:
            errors.add(f"messages[{index}].parent_id", "Not an earlier message of this document.")
            parents.append(None)
        if (message_id := message.get("id")) is not None:
            if message_id in positions:
                errors.add(f"messages[{index}].id", "Each id may appear only once.")
            positions.setdefault(message_id, index)
    current = len(messages) - 1
    if current_message_id is not None:
        found = positions.get(current_message_id)
        if found is None:
            errors.add("conversation.current_message_id", "Not a message of this document.")
        else:
            current = found
    errors.raise_if_any()
    return ImportedTree(parents=parents, current=current)


def _newest_leaf(tree: ImportedTree) -> int:
    """The leaf below ``tree.current`` by always the newest child, as a branch switch
    lands (a document's current message is normally a leaf already)."""
    newest_child: dict[int, int] = {}
    for position, parent in enumerate(tree.parents):
        if parent is not None:
            newest_child[parent] = position  # positions ascend: the last seen is newest
    leaf = tree.current
    while leaf in newest_child:
        leaf = newest_child[leaf]
    return leaf


@dataclass(frozen=True)
class ReadDocument:
    """A JSON export read for ``import_conversation``: its conversation fields, its
    messages in storage order and their tree (None: no messages)."""

    fields: dict[str, Any]
    messages: list[NewMessage]
    tree: ImportedTree | None


def read_document(document: Mapping[str, Any]) -> ReadDocument:
    """What ``import_document`` stores, read from a validated document (the API's, or a
    Numina archive's entry): ``ValidationError`` for a bad tree or too many messages."""
    conversation = document["conversation"]
    raw = document["messages"]
    # The count before any per-message work, as import_conversation does.
    errors = validation.FieldErrors()
    errors.check("messages", lambda value: validation.check_import_size(messages=value), raw)
    errors.raise_if_any()
    ordered = sorted(raw, key=lambda message: message.get("seq") or 0)
    tree = _tree_of(ordered, current_message_id=conversation.get("current_message_id"))
    fields = ("role", "content", "attachments", "metadata", "client_id", "created_at")
    return ReadDocument(
        fields={k: v for k, v in conversation.items() if k != "current_message_id"},
        messages=[NewMessage(**{k: m[k] for k in fields if k in m}) for m in ordered],
        tree=tree if ordered else None,
    )


def import_document(*, user, document: Mapping[str, Any]) -> Conversation:
    """A new conversation from a JSON export (as the API's ExportSerializer reads it).

    Messages are taken in ``seq`` order (the document's own order for equal or missing
    ones), the order they were stored in, so a parent always comes before its children.
    Each message's ``parent_id`` names the ``id`` of another message of the document
    (null: a first message); a message without the key follows the message before it,
    so an export from before branches is one straight branch. ``current_message_id``
    (absent: the last message) is the message whose branch is shown."""
    read = read_document(document)
    return import_conversation(user=user, **read.fields, messages=read.messages, tree=read.tree)


def _count_messages(roles: Counter[str]) -> None:
    for role, count in roles.items():
        metrics.messages_stored.labels(role=role).inc(count)


def _insert_tree(
    conversation: Conversation, *, messages: Sequence[NewMessage], tree: ImportedTree
) -> Message:
    """Insert the messages where ``tree`` puts them, in one statement; the message shown
    (the newest leaf below the tree's current one)."""
    now = timezone.now()
    rows: list[Message] = []
    for position, (message, parent) in enumerate(zip(messages, tree.parents, strict=True)):
        above = rows[parent] if parent is not None else None
        rows.append(
            Message(
                id=uuid.uuid4(),
                conversation=conversation,
                owner_id=conversation.owner_id,
                seq=position + 1,
                parent_id=above.id if above is not None else None,
                depth=above.depth + 1 if above is not None else 1,
                role=message.role,
                content=message.content,
                attachments=message.attachments,
                metadata=message.metadata,
                client_id=message.client_id,
                created_at=message.created_at or now,
            )
        )
    Message.objects.bulk_create(rows)
    transaction.on_commit(lambda: _count_messages(Counter(row.role for row in rows)))
    conversation.message_count = len(rows)
    conversation.last_activity_at = max(
        conversation.last_activity_at, *(row.created_at for row in rows)
    )
    return rows[_newest_leaf(tree)]


@transaction.atomic
def import_conversation(
    *,
    user,
    title: str = "",
    title_set_by_user: bool = False,
    summary: str = "",
    summary_covers_seq: int = 0,
    is_pinned: bool = False,
    tags: Sequence[str] = (),
    instructions: str = "",
    created_at: datetime | None = None,
    messages: Sequence[NewMessage],
    tree: ImportedTree | None = None,
    import_key: tuple[str, str] | None = None,
    activity_from_messages: bool = False,
) -> Conversation:
    """A new conversation holding an export's messages, tags, title, instructions and
    summary, the messages placed by ``tree`` (None: one straight branch in the order
    given).

    ``import_key`` (source, id there) marks where a bulk import found it (unique per
    owner: ``IntegrityError`` when the owner already has it). ``activity_from_messages``:
    its last activity is its newest message's time, not now, so a history brought in
    keeps its place among the user's chats."""
    # The bounds first, before any per-message work.
    errors = validation.FieldErrors()
    errors.check("messages", lambda value: validation.check_import_size(messages=value), messages)
    summary = errors.check("summary", validation.clean_summary, summary)
    errors.raise_if_any()
    cleaned = clean_new_messages(messages)
    tree = tree if tree is not None else straight_branch(len(cleaned))
    if tree is not None and len(tree.parents) != len(cleaned):
        raise ValueError("The tree must place every message.")
    client_ids = [m.client_id for m in cleaned if m.client_id]
    if len(set(map(str, client_ids))) != len(client_ids):
        raise ValidationError({"messages": ["Each client_id may appear only once."]})
    # One lock order (start_import): the new row, then the messages, and the user's
    # change number last (save_changed below), so the insert does not hold every other
    # write of the user back.
    conversation = start_import(
        user=user,
        title=title or None,
        tags=list(tags),
        is_pinned=is_pinned,
        instructions=instructions,
        import_key=import_key,
    )
    fields = ["title_set_by_user", "summary", "summary_covers_seq", "created_at"]
    if tree is not None:
        if activity_from_messages:
            # _insert_tree takes the newest of this and the messages' times.
            conversation.last_activity_at = created_at or min(
                (m.created_at for m in cleaned if m.created_at), default=timezone.now()
            )
        shown = _insert_tree(conversation, messages=cleaned, tree=tree)
        conversation.current_message = shown
        conversation.preview = shown.content[:200]
        fields += ["message_count", "current_message", "preview", "last_activity_at"]
    conversation.title_set_by_user = bool(title) and title_set_by_user
    conversation.summary = summary
    # A summary cannot cover messages the file did not bring.
    conversation.summary_covers_seq = (
        min(summary_covers_seq, conversation.message_count) if summary else 0
    )
    if created_at is not None:
        conversation.created_at = min(created_at, conversation.created_at)
    save_changed(
        conversation,
        fields=fields,
        stored_seqs=(1, conversation.message_count) if tree is not None else None,
    )
    return conversation
