"""Numina's archive: everything a user has, as one ZIP streamed in bounded memory.

The archive (read back by the import of issue 15) holds, per conversation,
``conversations/<id>.json`` — exactly the one-conversation JSON export, the whole tree —
and ``conversations/<id>.md``, the current branch as the Markdown export prints it, both
written by services/transfer.py's writers; the user's uploaded files as
``files/<id>/<name>``; ``memory.json``, the user's memory items (``{"memory": [{"id",
"kind", "content", "source_conversation_id", "user_written", "created_at",
"updated_at"}]}``); and ``manifest.json``, written last, since it names every
conversation and file::

    {"format": "numina-export", "version": 1, "exported_at": ISO,
     "conversations": [{"id", "title", "json": "conversations/<id>.json",
                        "markdown": "conversations/<id>.md"}],
     "files": [{"id", "name", "content_type", "size", "sha256", "path"}],
     "memory": "memory.json"}

The ZIP is written by stream-zip as it is sent: each member is compressed from the
writers' chunks as the response is read, and only the manifest's few fields per
conversation are kept until the end (about a hundred bytes each). Zip64 throughout, so
no count of members or size of a member can end the stream halfway.

Queries: the conversations come ``NUMINA_EXPORT_BATCH`` at a time, and each batch costs
three queries whatever its messages — the batch itself (tag names and the current
branch's length in the same query), every message of its conversations, and their
current branches — plus one that finds the end when the count is a multiple of the
batch (or zero), one for the files and one for the memory: ``3 * ceil(n / batch) + 3``
at most for n
conversations.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.conf import settings
from django.core.files.storage import storages
from django.http import StreamingHttpResponse
from django.utils import timezone
from stream_zip import ZIP_64, stream_zip

from memory import selectors as memory_selectors

from . import access, services, streams
from .models import Conversation, Message
from .selectors import archive as selectors

ARCHIVE_FORMAT = "numina-export"
ARCHIVE_VERSION = 1
MANIFEST_NAME = "manifest.json"
MEMORY_NAME = "memory.json"
# Owner read and write: the archive is one person's data.
_PERMISSIONS = 0o600
FILE_CHUNK = 64 * 1024


def member_names(conversation_id) -> dict[str, str]:
    """Where a conversation's documents sit in the archive."""
    return {
        "json": f"conversations/{conversation_id}.json",
        "markdown": f"conversations/{conversation_id}.md",
    }


class _Runs:
    """Consecutive runs of rows of one conversation, taken in the batch's order: the rows
    come ordered by conversation id, as the batch does, so one pass hands each
    conversation its own (none for a conversation without messages)."""

    def __init__(self, rows: Iterable[Message]) -> None:
        self._rows = iter(rows)
        self._next = next(self._rows, None)

    def of(self, conversation: Conversation) -> Iterator[Message]:
        while self._next is not None and self._next.conversation_id == conversation.id:
            yield self._next
            self._next = next(self._rows, None)


def _encoded(chunks: Iterable[str]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.encode()


def _members(*, user, exported_at: datetime) -> Iterator[tuple]:
    """The archive's members, as stream-zip takes them, read batch by batch."""
    listed: list[dict[str, str]] = []
    for batch in selectors.conversation_batches(user=user, batch_size=settings.NUMINA_EXPORT_BATCH):
        # All the batch's JSON documents from one message cursor, then all its Markdown
        # from the branch cursor: one cursor read at a time.
        trees = _Runs(selectors.batch_messages(user=user, conversations=batch))
        for conversation in batch:
            names = member_names(conversation.id)
            listed.append({"id": str(conversation.id), "title": conversation.title, **names})
            document = services.export_json(
                conversation=conversation, messages=trees.of(conversation)
            )
            yield names["json"], exported_at, _PERMISSIONS, ZIP_64, _encoded(document)
        shown = _Runs(selectors.batch_current_branches(conversations=batch))
        for conversation in batch:
            markdown = services.export_markdown(
                conversation=conversation,
                messages=shown.of(conversation),
                branch_length=getattr(conversation, "branch_length", None) or 0,
            )
            name = member_names(conversation.id)["markdown"]
            yield name, exported_at, _PERMISSIONS, ZIP_64, _encoded(markdown)
    files: list[dict] = []
    yield from _file_members(user=user, exported_at=exported_at, listed=files)
    # The user's memory (memory/): at most NUMINA_MEMORY_MAX_ITEMS small rows, one query.
    memory = memory_selectors.exported_memory(user=user)
    body = json.dumps({"memory": memory}, ensure_ascii=False).encode()
    yield MEMORY_NAME, exported_at, _PERMISSIONS, ZIP_64, (body,)
    manifest = {
        "format": ARCHIVE_FORMAT,
        "version": ARCHIVE_VERSION,
        "exported_at": exported_at.isoformat(),
        "conversations": listed,
        "files": files,
        "memory": MEMORY_NAME,
    }
    body = json.dumps(manifest, ensure_ascii=False).encode()
    yield MANIFEST_NAME, exported_at, _PERMISSIONS, ZIP_64, (body,)


def file_member_name(user_file) -> str:
    # The display name is already safe (no path, no control characters: uploads.py).
    return f"files/{user_file.id}/{user_file.name}"


def _stored_chunks(stored) -> Iterator[bytes]:
    with stored:
        while chunk := stored.read(FILE_CHUNK):
            yield chunk


def _file_members(*, user, exported_at: datetime, listed: list[dict]) -> Iterator[tuple]:
    """Each of the user's uploaded files as ``files/<id>/<name>``, read from storage in
    chunks as it is zipped (one query for all of them, streamed by a cursor)."""
    storage = storages["files"]
    for user_file in access.owned_files(user=user).order_by("created_at", "id").iterator():
        try:
            stored = storage.open(user_file.storage_name, "rb")
        except OSError:
            # Deleted since the listing began (its row went too): nothing to export.
            continue
        name = file_member_name(user_file)
        listed.append(
            {
                "id": str(user_file.id),
                "name": user_file.name,
                "content_type": user_file.content_type,
                "size": user_file.size,
                "sha256": user_file.sha256,
                "path": name,
            }
        )
        yield name, exported_at, _PERMISSIONS, ZIP_64, _stored_chunks(stored)


def archive_filename(*, exported_at: datetime) -> str:
    return f"numina-export-{exported_at:%Y-%m-%d}.zip"


def archive_download(*, user, slot: streams.StreamSlot) -> StreamingHttpResponse:
    """Everything of the user's as a streamed ZIP attachment; the slot (taken by the
    caller, as for the one-conversation export) is given back when the response is
    closed. Nothing is read before the response is: the first batch is fetched as the
    first bytes are sent."""
    exported_at = timezone.now()
    zipped = stream_zip(_members(user=user, exported_at=exported_at))
    response = StreamingHttpResponse(
        streams.HeldStream(zipped, slot=slot), content_type="application/zip"
    )
    filename = archive_filename(exported_at=exported_at)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
