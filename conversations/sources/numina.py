"""Numina's own archive (GET /api/v1/export/): ``manifest.json`` lists each conversation
and its ``conversations/<id>.json``, exactly the one-conversation export document,
read by the same serializer as the API's import (conversations/documents.py). Keyed
by the conversation's id in the archive, so an archive imported twice creates nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..documents import ExportSerializer
from .common import BadUpload, SourceConversation, describe, title_of

SOURCE = "numina"
ARCHIVE_FORMAT = "numina-export"
DOCUMENT_FORMAT = "numina.conversation"
NOT_OURS = "manifest.json is not a Numina archive's (format numina-export, version 1)."


def manifest_entries(manifest: Any) -> list[dict]:
    if (
        not isinstance(manifest, dict)
        or manifest.get("format") != ARCHIVE_FORMAT
        or manifest.get("version") != 1
        or not isinstance(manifest.get("conversations"), list)
    ):
        raise BadUpload(NOT_OURS)
    return manifest["conversations"]


def _document(raw: Any, *, source_id: str, title: str) -> SourceConversation:
    return SourceConversation(
        source=SOURCE, source_id=source_id, title=title, unchecked_document=raw
    )


def checked(item: SourceConversation) -> SourceConversation:
    """The item with its document validated (``document``) or its ``problem`` said; an
    item with nothing left to check is returned as it is."""
    if item.unchecked_document is None:
        return item
    serializer = ExportSerializer(data=item.unchecked_document)
    if not serializer.is_valid():
        return dataclasses.replace(
            item, unchecked_document=None, problem=describe(serializer.errors)
        )
    return dataclasses.replace(item, unchecked_document=None, document=serializer.validated_data)


def read_archive(
    entries: Sequence[Any], *, read: Callable[[str], bytes], parse: Callable[[bytes], Any]
) -> Iterator[SourceConversation]:
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("json"):
            yield SourceConversation(
                source=SOURCE, source_id=f"#{index}", problem="A manifest entry needs id and json."
            )
            continue
        source_id, title = str(entry["id"]), title_of(entry.get("title"))
        try:
            raw = parse(read(str(entry["json"])))
        except BadUpload as exc:
            yield SourceConversation(
                source=SOURCE, source_id=source_id, title=title, problem=exc.detail
            )
            continue
        yield _document(raw, source_id=source_id, title=title)


def document(raw: Any, index: int) -> SourceConversation:
    """One one-conversation export document given as JSON (alone or in a list)."""
    conversation = raw.get("conversation") if isinstance(raw, dict) else None
    source_id = conversation.get("id") if isinstance(conversation, dict) else None
    if not source_id:
        # Without its id it has no key, and a second import could not know it.
        return SourceConversation(
            source=SOURCE, source_id=f"#{index}", problem="conversation.id is missing."
        )
    return _document(raw, source_id=str(source_id), title="")
