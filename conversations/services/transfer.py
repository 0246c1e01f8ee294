"""Export and import of whole conversations (JSON documents and Markdown downloads).

Import makes a new conversation with a new id — importing one file twice gives two
conversations — in one transaction, so a bad message stores nothing at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import validation
from ..models import Conversation, Message
from .conversations import NewMessage, add_messages, save_changed, start_import

EXPORT_FORMAT = "numina.conversation"
EXPORT_VERSION = 1


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
        "message_count": conversation.message_count,
        "created_at": conversation.created_at.isoformat(),
        "last_activity_at": conversation.last_activity_at.isoformat(),
    }


def _message_document(message: Message) -> dict:
    return {
        "id": str(message.id),
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "attachments": message.attachments,
        "metadata": message.metadata,
        "client_id": str(message.client_id) if message.client_id else None,
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


def export_markdown(*, conversation: Conversation, messages: Iterable[Message]) -> Iterator[str]:
    yield f"# {conversation.display_title}\n\n"
    tags = ", ".join(conversation.tag_list)
    yield f"- Created: {conversation.created_at.isoformat()}\n"
    yield f"- Messages: {conversation.message_count}\n"
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
    created_at: datetime | None = None,
    messages: Sequence[NewMessage],
) -> Conversation:
    """A new conversation holding an export's messages, tags, title and summary."""
    # The bounds first, before any per-message work.
    errors = validation.FieldErrors()
    errors.check("messages", lambda value: validation.check_import_size(messages=value), messages)
    summary = errors.check("summary", validation.clean_summary, summary)
    errors.raise_if_any()
    client_ids = [m.client_id for m in messages if m.client_id]
    if len(set(map(str, client_ids))) != len(client_ids):
        raise ValidationError({"messages": ["Each client_id may appear only once."]})
    # The user's change number is taken last (save_changed below): the insert does not
    # hold every other write of the user back.
    conversation = start_import(
        user=user, title=title or None, tags=list(tags), is_pinned=is_pinned
    )
    add_messages(user=user, conversation_id=conversation.id, messages=messages)
    conversation.refresh_from_db()
    conversation.title_set_by_user = bool(title) and title_set_by_user
    conversation.summary = summary
    # A summary cannot cover messages the file did not bring.
    conversation.summary_covers_seq = (
        min(summary_covers_seq, conversation.message_count) if summary else 0
    )
    if created_at is not None:
        conversation.created_at = min(created_at, conversation.created_at)
    save_changed(
        conversation, fields=["title_set_by_user", "summary", "summary_covers_seq", "created_at"]
    )
    return conversation
