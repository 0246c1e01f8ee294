"""The export download that the browser UI and the API both serve.

One function picks the document (JSON or Markdown), its content type and its file name,
and streams it holding the user's stream slot, so the two doors give the same download
and cannot drift apart. The documents themselves are written by services/transfer.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.http import StreamingHttpResponse

from . import selectors, services, streams
from .models import Conversation, Message


@dataclass(frozen=True)
class ExportFormat:
    write: Callable[..., Iterator[str]]
    content_type: str
    extension: str


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "json": ExportFormat(services.export_json, "application/json", "json"),
    "markdown": ExportFormat(services.export_markdown, "text/markdown; charset=utf-8", "md"),
}
DEFAULT_EXPORT_FORMAT = "json"


def export_download(
    *, user, conversation: Conversation, export_format: str, slot: streams.StreamSlot
) -> StreamingHttpResponse:
    """The user's conversation as a streamed attachment in ``export_format`` (a key of
    EXPORT_FORMATS); the slot is given back when the response is closed."""
    chosen = EXPORT_FORMATS[export_format]
    messages: Iterable[Message] = selectors.export_messages(user=user, conversation=conversation)
    response = StreamingHttpResponse(
        streams.HeldStream(chosen.write(conversation=conversation, messages=messages), slot=slot),
        content_type=chosen.content_type,
    )
    filename = services.export_filename(conversation=conversation, extension=chosen.extension)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
