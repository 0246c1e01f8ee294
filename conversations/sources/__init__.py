"""Readers of the files people bring: which format an upload is, and its conversations.

An upload is told by its content, never by its name: a ZIP is Numina's archive (its
``manifest.json``) or a ChatGPT / Claude.ai export ZIP (its ``conversations.json``);
JSON is ChatGPT's or Claude.ai's ``conversations.json``, an Open WebUI chat export, or
one Numina conversation export. The readers touch no database: each yields
``SourceConversation`` items, one at a time, and services/bulk_import.py stores them.
Anything wrong with the file as a whole is a ``BadUpload`` (the API's 400); anything
wrong with one conversation is that item's ``problem``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from . import chatgpt, claude, numina, openwebui
from .common import BadUpload, SourceConversation, SourceMessage, describe
from .zips import SafeZip

__all__ = [
    "BadUpload",
    "SourceConversation",
    "SourceMessage",
    "Upload",
    "check_container",
    "check_size",
    "checked",
    "describe",
    "read_upload",
]

# What is left to check of an item before it is stored (only Numina documents wait).
checked = numina.checked

TRUNCATED = "The file is neither a ZIP nor JSON, or it is cut short (a truncated upload?)."


@dataclass(frozen=True)
class Upload:
    """A readable upload: its format, how many conversations it holds, and a reader that
    yields them one at a time (so a big file never holds two parsed copies)."""

    format: str
    count: int
    items: Callable[[], Iterator[SourceConversation]]


def check_size(size: int) -> None:
    limit = settings.NUMINA_IMPORT_MAX_BYTES
    if size > limit:
        raise BadUpload(f"The file is over {limit} bytes (NUMINA_IMPORT_MAX_BYTES).")


def _is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def check_container(data: bytes) -> None:
    """The cheap checks of a file too big to read in the request: its size, and a ZIP's
    directory (bounds, paths) or JSON's first character; the rest waits for the job."""
    check_size(len(data))
    if _is_zip(data):
        SafeZip(data)
        return
    if data.lstrip()[:1] not in (b"[", b"{"):
        raise BadUpload(TRUNCATED)


def read_upload(data: bytes) -> Upload:
    """The upload's format and conversations, or ``BadUpload``."""
    check_size(len(data))
    if _is_zip(data):
        return _read_zip(SafeZip(data))
    return _read_json(_parse_json(data))


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and undecodable bytes; RecursionError a
        # nesting deeper than the parser goes.
        raise BadUpload(TRUNCATED) from None


def _read_zip(archive: SafeZip) -> Upload:
    names = archive.names
    if "manifest.json" in names:
        manifest = _parse_json(archive.read("manifest.json"))
        entries = numina.manifest_entries(manifest)
        return Upload(
            format="numina",
            count=len(entries),
            items=lambda: numina.read_archive(entries, read=archive.read, parse=_parse_json),
        )
    if "conversations.json" in names:
        return _read_json(_parse_json(archive.read("conversations.json")))
    raise BadUpload(
        "A ZIP that is not a Numina archive (no manifest.json) nor a ChatGPT or Claude.ai "
        "export (no conversations.json)."
    )


# Each format's reader of one item (the item, its index in the file).
_READERS: dict[str, Callable[[Any, int], SourceConversation]] = {
    "chatgpt": chatgpt.conversation,
    "claude": claude.conversation,
    "openwebui": openwebui.conversation,
    "numina": numina.document,
}


def _format_of(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    if "mapping" in item:
        return "chatgpt"
    if "chat_messages" in item:
        return "claude"
    if isinstance(item.get("chat"), dict) or isinstance(item.get("history"), dict):
        return "openwebui"
    if item.get("format") == numina.DOCUMENT_FORMAT:
        return "numina"
    return None


def _read_json(value: Any) -> Upload:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise BadUpload("The file holds no conversations.")
    # The first item that is an object names the format; the others are read as that
    # format, and an item of another shape is that item's error.
    found = next((f for f in map(_format_of, items) if f is not None), None)
    if found is None:
        raise BadUpload(
            "Not a known export format: expected Numina's archive, ChatGPT's or Claude.ai's "
            "conversations.json, or an Open WebUI chat export."
        )
    reader = _READERS[found]
    return Upload(
        format=found,
        count=len(items),
        items=lambda: (reader(item, index) for index, item in enumerate(items)),
    )
