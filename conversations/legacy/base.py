"""What every legacy layout reader shares.

A reader gets one key's ``Snapshot`` (read atomically by ``snapshot.py``) and returns a
``Reading``: the key's messages in chronological order, the items it could not read
(with their position, so the operator can find them), and what else the layout carries
(a summary, the owner named in the data). Readers never touch the database: the writes
live in ``conversations.services.legacy_import``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from ..models import Role

# Every spelling of a role that real writers use, mapped to Numina's three roles.
# Tool and function results travel as user turns, as in Anthropic's Messages API; the
# original role is always kept in the message's metadata.
ROLE_MAP = {
    "human": Role.USER,
    "user": Role.USER,
    "humanmessage": Role.USER,
    "ai": Role.ASSISTANT,
    "assistant": Role.ASSISTANT,
    "aimessage": Role.ASSISTANT,
    "model": Role.ASSISTANT,
    "chatbot": Role.ASSISTANT,
    "system": Role.SYSTEM,
    "developer": Role.SYSTEM,
    "systemmessage": Role.SYSTEM,
    "tool": Role.USER,
    "toolmessage": Role.USER,
    "function": Role.USER,
    "functionmessage": Role.USER,
}

# How deep a legacy JSON value may nest. Real messages nest a handful of levels (content
# blocks inside a message); anything deeper would overflow Python's recursion in the
# parser or in the walks over the value below, and stopping the whole run.
JSON_MAX_DEPTH = 64

# "role: content" lines some applications pushed instead of JSON.
_PLAIN_LINE = re.compile(r"\A\s*([A-Za-z_][A-Za-z_ ]{0,30}?)\s*:\s?(.*)\Z", re.DOTALL)


class ItemError(Exception):
    """One item of a key cannot be imported; the reason goes into the report."""


@dataclass(frozen=True)
class Snapshot:
    """One key as it was at one instant: its type, value and companion keys' values."""

    raw_key: bytes
    db: int
    redis_type: str
    value: bytes | list[bytes] | None
    companions: dict[str, bytes | None] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.raw_key.decode("utf-8", "backslashreplace")

    @property
    def items(self) -> list[bytes]:
        """A list key's items ([] for any other type: the reader then claims nothing)."""
        return self.value if isinstance(self.value, list) else []

    @property
    def text(self) -> bytes | None:
        """A string key's value (None for any other type)."""
        return self.value if isinstance(self.value, bytes) else None


@dataclass(frozen=True)
class LegacyMessage:
    role: str
    content: str
    # What identifies this message across runs: re-runs recognise stored messages by
    # its hash, not by position (lists are trimmed at the front).
    fingerprint: str
    created_at: datetime | None
    legacy: dict[str, Any]
    # What the message carried besides its text, as strings (URLs, paths, ids): stored
    # on the message's ``attachments`` as the API's own messages carry them.
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class BadItem:
    # The item's index in the Redis list (what LINDEX takes) or in the value's messages
    # array; None when the whole value is unreadable.
    position: int | None
    reason: str


@dataclass
class Reading:
    messages: list[LegacyMessage] = field(default_factory=list)
    bad_items: list[BadItem] = field(default_factory=list)
    summary: str | None = None
    owner_name: str | None = None  # a username the data itself names (user-session)


class Layout:
    """A legacy layout: adding one is a subclass in a module and a line in registry.py."""

    name: str
    redis_type: str  # "list" or "string": the only types a layout's value comes in

    def companion_keys(self, key: str) -> list[str]:
        """Keys to read in the same snapshot as ``key`` (decided by its name alone)."""
        return []

    def is_companion(self, key: str) -> bool:
        """True for a key that belongs to another key of this layout (a summary)."""
        return False

    def claims(self, snapshot: Snapshot) -> bool:
        """True when the key's name, type and value shape are this layout's."""
        raise NotImplementedError

    def legacy_id(self, key: str) -> str:
        """The id an operator's --user-map names this key's owner by."""
        raise NotImplementedError

    def read(self, snapshot: Snapshot) -> Reading:
        raise NotImplementedError


def fingerprint(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _nests_deeper_than(value: Any, *, limit: int) -> bool:
    """Whether a parsed JSON value nests more than ``limit`` levels (iteratively)."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, dict | list) for node in level)


def _parse_bounded(text: str) -> Any:
    """``json.loads`` with the nesting bound: ``ItemError`` past JSON_MAX_DEPTH."""
    too_deep = ItemError(f"nested more than {JSON_MAX_DEPTH} levels deep")
    try:
        value = json.loads(text)
    except RecursionError:
        raise too_deep from None
    # Counting brackets is cheap and bounds the depth, so nearly every item skips the walk.
    brackets = text.count("[") + text.count("{")
    if brackets > JSON_MAX_DEPTH and _nests_deeper_than(value, limit=JSON_MAX_DEPTH):
        raise too_deep
    return value


def decode_json(raw: bytes) -> Any:
    """An item as JSON; ``ItemError`` when it is not UTF-8, not JSON or nested too deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ItemError(f"not UTF-8 (byte {exc.start})") from None
    try:
        return _parse_bounded(text)
    except ValueError:
        match = _PLAIN_LINE.match(text)
        if match and match.group(1).strip().lower() in ROLE_MAP:
            return {"role": match.group(1).strip(), "content": match.group(2), "plain": True}
        raise ItemError("malformed JSON") from None


def loads_object(raw: bytes | None) -> dict | None:
    """A whole value as a JSON object, or None (used to recognise a layout's shape)."""
    if raw is None:
        return None
    try:
        value = _parse_bounded(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, ItemError):
        return None
    return value if isinstance(value, dict) else None


def map_role(role: Any) -> tuple[str, bool]:
    """Numina's role for a legacy one, and whether the legacy role was known.

    An unknown role becomes a user turn (it is not the assistant's own output) and keeps
    its original name in metadata; nothing is dropped or invented.
    """
    mapped = ROLE_MAP.get(str(role).strip().lower())
    return (mapped, True) if mapped else (Role.USER, False)


def text_of(content: Any) -> tuple[str, list | None]:
    """The text of a message's content and, for content blocks, the raw blocks."""
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    blocks = content if isinstance(content, list) else [content]
    texts = []
    for block in blocks:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, dict) and isinstance(block.get("text"), str):
            texts.append(block["text"])
    return "\n".join(texts), blocks


def _reference_of(value: Any) -> str | None:
    """The string an attachment is known by: itself, or a block's or object's URL, path,
    file name or id (LangChain's image_url blocks, Anthropic-style image sources,
    LlamaIndex's image and document blocks, an application's own attachment objects)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return None
    image_url = value.get("image_url")
    if isinstance(image_url, dict):
        image_url = image_url.get("url")
    source = value.get("source")
    for candidate in (
        image_url,
        source.get("url") if isinstance(source, dict) else None,
        value.get("url"),
        value.get("path"),
        value.get("file_id"),
        value.get("filename"),
        value.get("name"),
        value.get("id"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


NON_ATTACHMENT_BLOCKS = frozenset({"text", "tool_use", "tool_result", "thinking"})


def legacy_attachments(*, explicit: Any, blocks: list | None) -> tuple[list[str], dict]:
    """The attachment strings of a legacy message: the item's own ``attachments`` list,
    then what its non-text content blocks point at; and, for metadata, what could not be
    kept (inline ``data:`` URLs, strings over NUMINA_ATTACHMENT_MAX_LENGTH, past
    NUMINA_MAX_ATTACHMENTS) — counted, never silently lost: the raw blocks stay in the
    metadata too."""
    found: list[str] = []
    if isinstance(explicit, list | tuple):
        found += [ref for item in explicit if (ref := _reference_of(item))]
    elif isinstance(explicit, str | dict):
        found += [ref] if (ref := _reference_of(explicit)) else []
    for block in blocks or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type") or block.get("block_type")
        if kind in NON_ATTACHMENT_BLOCKS or kind is None:
            continue
        ref = _reference_of(block)
        if ref:
            found.append(ref)
    kept: list[str] = []
    skipped = 0
    for ref in dict.fromkeys(ref.replace("\x00", "").strip() for ref in found):
        if (
            not ref
            or ref.startswith("data:")
            or len(ref) > settings.NUMINA_ATTACHMENT_MAX_LENGTH
            or len(kept) >= settings.NUMINA_MAX_ATTACHMENTS
        ):
            skipped += 1
            continue
        kept.append(ref)
    return kept, ({"attachments_not_kept": skipped} if skipped else {})


def _strip_nul(value: Any) -> tuple[Any, int]:
    """Remove NUL characters, which PostgreSQL text and jsonb cannot hold; count them."""
    if isinstance(value, str):
        count = value.count("\x00")
        return (value.replace("\x00", ""), count) if count else (value, 0)
    if isinstance(value, list):
        items = [_strip_nul(item) for item in value]
        return [item for item, _ in items], sum(n for _, n in items)
    if isinstance(value, dict):
        total = 0
        clean = {}
        for key, item in value.items():
            clean_key, n_key = _strip_nul(key)
            clean[clean_key], n_item = _strip_nul(item)
            total += n_key + n_item
        return clean, total
    return value, 0


def make_message(
    *,
    raw: bytes,
    role: Any,
    content: Any,
    created_at: datetime | None = None,
    legacy: dict[str, Any] | None = None,
    attachments: Any = None,
) -> LegacyMessage:
    """Build one message the way every layout does: role map, text, NULs, limits.

    Content longer than NUMINA_CONTENT_MAX_LENGTH is not cut: it raises ``ItemError``,
    so the item is reported with its key and position instead of being lost quietly.
    """
    text, blocks = text_of(content)
    numina_role, known = map_role(role)
    info: dict[str, Any] = {"role": role if isinstance(role, str) else str(role)}
    if not known:
        info["role_unknown"] = True
    if blocks is not None:
        info["blocks"] = blocks
    for name, value in (legacy or {}).items():
        if value not in (None, "", [], {}):
            info[name] = value
    # JSON spells NUL \\u0000; an item without one (nearly all) skips the walk.
    if b"\\u0000" in raw or b"\x00" in raw:
        text, nul_in_text = _strip_nul(text)
        info, nul_in_meta = _strip_nul(info)
        if nul_in_text or nul_in_meta:
            info["nul_removed"] = nul_in_text + nul_in_meta
    limit = settings.NUMINA_CONTENT_MAX_LENGTH
    if len(text) > limit:
        raise ItemError(f"content of {len(text)} characters exceeds the limit of {limit}")
    if created_at is None:
        info["created_at_estimated"] = True
    kept, not_kept = legacy_attachments(explicit=attachments, blocks=blocks)
    info.update(not_kept)
    return LegacyMessage(
        role=numina_role,
        content=text,
        fingerprint=fingerprint(raw),
        created_at=created_at,
        legacy=info,
        attachments=tuple(kept),
    )


def parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_epoch_ms(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def read_items(
    items: list[bytes], build, reading: Reading, *, positions: range | None = None
) -> None:
    """Run ``build(raw, obj)`` over list items, collecting messages and bad items."""
    for position, raw in zip(positions or range(len(items)), items, strict=True):
        try:
            reading.messages.append(build(raw, decode_json(raw)))
        except ItemError as exc:
            reading.bad_items.append(BadItem(position=position, reason=str(exc)))


def read_json_value(snapshot: Snapshot, *, layout: str, parse_time) -> tuple[dict, Reading]:
    """A STRING value holding ``{"messages": [{"role", "content", "timestamp"}], …}``.

    The two JSON layouts differ only in their other fields and in how they write a
    timestamp (``parse_time``). A value that is not such an object is one bad item.
    """
    reading = Reading()
    try:
        value = decode_json(snapshot.text or b"")
    except ItemError as exc:
        reading.bad_items.append(BadItem(position=None, reason=str(exc)))
        return {}, reading
    if not isinstance(value, dict) or not isinstance(value.get("messages"), list):
        reading.bad_items.append(BadItem(position=None, reason="no messages array"))
        return {}, reading
    for position, item in enumerate(value["messages"]):
        if not isinstance(item, dict) or not isinstance(item.get("role"), str):
            reading.bad_items.append(BadItem(position=position, reason="not a message object"))
            continue
        raw = json.dumps(item, sort_keys=True, ensure_ascii=False).encode("utf-8", "replace")
        created_at = parse_time(item.get("timestamp"))
        extra = {"layout": layout, "id": item.get("id")}
        if created_at is None and item.get("timestamp") is not None:
            extra["timestamp"] = item.get("timestamp")  # unreadable: kept, estimated instead
        try:
            reading.messages.append(
                make_message(
                    raw=raw,
                    role=item["role"],
                    content=item.get("content"),
                    created_at=created_at,
                    legacy=extra,
                    attachments=item.get("attachments") or item.get("files"),
                )
            )
        except ItemError as exc:
            reading.bad_items.append(BadItem(position=position, reason=str(exc)))
    return value, reading
