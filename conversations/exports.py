"""The export download that the browser UI and the API both serve.

One function picks the document (JSON or Markdown), its content type and its file name,
and streams it holding the user's stream slot, so the two doors give the same download
and cannot drift apart. The documents themselves are written by services/transfer.py:
the JSON document holds the whole tree, the Markdown the current branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.http import StreamingHttpResponse

from . import selectors, services, streams
from .models import Conversation, Message
from .selectors import branches

# Messages of a conversation read in chunks of this many, so any length streams in
# bounded memory.
CHUNK = 2000


def _whole_tree(*, user, conversation: Conversation) -> tuple[Iterator[Message], dict[str, Any]]:
    return selectors.export_messages(user=user, conversation=conversation), {}


def _current_branch(
    *, user, conversation: Conversation
) -> tuple[Iterator[Message], dict[str, Any]]:
    """The branch shown, first message first, and its length (the current message's
    depth: one query, however long the branch)."""
    leaf = conversation.current_message_id
    length = Message.objects.filter(pk=leaf).values_list("depth", flat=True).first() if leaf else 0
    messages = branches.branch(conversation_id=conversation.id, leaf_id=leaf)
    return messages.iterator(chunk_size=CHUNK), {"branch_length": length}


@dataclass(frozen=True)
class ExportFormat:
    write: Callable[..., Iterator[str]]
    content_type: str
    extension: str
    # The messages the document holds (and what else the writer is told of them).
    messages: Callable[..., tuple[Iterator[Message], dict[str, Any]]]


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat(services.export_json, "application/json", "json", _whole_tree),
    "markdown": ExportFormat(
        services.export_markdown, "text/markdown; charset=utf-8", "md", _current_branch
    ),
}
DEFAULT_EXPORT_FORMAT = "json"


def export_download(
    *, user, conversation: Conversation, export_format: str, slot: streams.StreamSlot
) -> StreamingHttpResponse:
    """The user's conversation (one ``access`` already found the user's) as a streamed
    attachment in ``export_format`` (a key of EXPORT_FORMATS); the slot is given back
    when the response is closed."""
    chosen = EXPORT_FORMATS[export_format]
    messages, extra = chosen.messages(user=user, conversation=conversation)
    response = StreamingHttpResponse(
        streams.HeldStream(
            chosen.write(conversation=conversation, messages=messages, **extra), slot=slot
        ),
        content_type=chosen.content_type,
    )
    filename = services.export_filename(conversation=conversation, extension=chosen.extension)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
