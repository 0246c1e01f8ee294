"""What every reader yields, and the walk that turns a source's message tree into
Numina's order (parents before children) with skipped nodes spliced out."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime


class BadUpload(ValidationError):
    """The file as a whole cannot be imported: the API's 400 on ``file``."""

    def __init__(self, message: str):
        super().__init__({"file": [message]})
        self.detail = message


@dataclass(frozen=True)
class SourceMessage:
    role: str
    content: str
    created_at: datetime | None = None
    metadata: dict = field(default_factory=dict)
    # The position of its parent among the conversation's messages (None: a first one).
    parent: int | None = None


@dataclass(frozen=True)
class SourceConversation:
    """One conversation of an upload, keyed by (``source``, ``source_id``).

    Either ``messages`` (parents before children, ``current`` the position of the one
    shown, None: the last) or, from a Numina archive, ``document``: the validated
    one-conversation export, which the services read the way the API's import does.
    ``problem``: why this item cannot be imported (nothing of it is stored)."""

    source: str
    source_id: str
    title: str = ""
    created_at: datetime | None = None
    messages: list[SourceMessage] = field(default_factory=list)
    current: int | None = None
    document: Mapping[str, Any] | None = None
    # A Numina export document as it was read, not yet validated: validating 20 messages
    # through the export serializer costs far more than asking whether the conversation
    # was imported before, so it waits until the item is to be stored (``checked``) and a
    # re-import of 10,000 conversations skips them without validating any.
    unchecked_document: Any = None
    problem: str | None = None

    @property
    def label(self) -> str:
        return f"{self.source}:{self.source_id}"


def describe(error: Any) -> str:
    """A ValidationError's (or a DRF error map's) messages as one line, each field named."""
    if isinstance(error, ValidationError):
        error = error.message_dict if hasattr(error, "error_dict") else error.messages
    parts: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list | tuple):
            for inner in value:
                walk(inner, where)
        else:
            parts.append(f"{where}: {value}" if where else str(value))

    walk(error, "")
    return "; ".join(parts[:10]) or "Invalid."


def as_dict(value: Any) -> dict:
    """An object of the source's JSON, or an empty one where it has something else."""
    return value if isinstance(value, dict) else {}


def clean_text(value: Any) -> str:
    # NUL is refused by validation (PostgreSQL cannot store it); a foreign export's stray
    # one is not worth losing a whole conversation for.
    return value.replace("\x00", "") if isinstance(value, str) else ""


def title_of(value: Any) -> str:
    """A source's title, within Numina's bound (a longer one is cut, not refused)."""
    return clean_text(value).strip()[: settings.NUMINA_TITLE_MAX_LENGTH]


def from_epoch(value: Any) -> datetime | None:
    """Seconds since the epoch (milliseconds past year 5138: Open WebUI uses both)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value > 1e11:
        value = value / 1000
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@dataclass(frozen=True)
class Node:
    """One node of a source's tree: its parent's id (None or unknown: a root), a key to
    order siblings by, and its message (None: a node Numina does not show)."""

    parent: str | None
    message: SourceMessage | None
    order: Any = 0


def walk(
    nodes: Mapping[str, Node], *, current: Any, default_time: datetime | None
) -> tuple[list[SourceMessage], int | None]:
    """The kept messages in depth-first order (siblings by ``order``), each under its
    nearest kept ancestor, with the position of ``current``'s nearest kept message.

    Linear in the nodes, without recursion (a 100,000-deep chain is one branch). A node
    whose parent is unknown is a root; nodes caught in a cycle are never reached from a
    root and are left out. A message without a time takes its ancestor's (then the
    conversation's), so a branch's times never go backwards."""
    children: dict[str | None, list[str]] = {}
    for node_id, node in nodes.items():
        parent = node.parent if node.parent in nodes and node.parent != node_id else None
        children.setdefault(parent, []).append(node_id)
    for siblings in children.values():
        siblings.sort(key=lambda node_id: _order_key(nodes[node_id].order))
    out: list[SourceMessage] = []
    position_of: dict[str, int | None] = {}
    stack: list[tuple[str, int | None, datetime | None]] = [
        (root, None, default_time) for root in reversed(children.get(None, []))
    ]
    while stack:
        node_id, above, time = stack.pop()
        if node_id in position_of:
            continue
        message = nodes[node_id].message
        if message is not None:
            time = message.created_at or time
            out.append(dataclasses.replace(message, parent=above, created_at=time))
            above = len(out) - 1
        position_of[node_id] = above
        stack.extend((child, above, time) for child in reversed(children.get(node_id, [])))
    shown = position_of.get(str(current)) if current is not None else None
    return out, shown


def from_tree(
    nodes: Mapping[str, Node],
    *,
    source: str,
    source_id: str,
    title: str,
    created_at: datetime | None,
    current: Any,
) -> SourceConversation:
    """A conversation of a tree-shaped source: ``walk`` over its nodes, ``current`` the
    id of the node shown."""
    messages, shown = walk(nodes, current=current, default_time=created_at)
    return SourceConversation(
        source=source,
        source_id=source_id,
        title=title,
        created_at=created_at,
        messages=messages,
        current=shown,
    )


def _order_key(order: Any) -> tuple:
    # Missing times sort after known ones, in the source's own order among themselves.
    if isinstance(order, tuple):
        return order
    return (order is None, order or 0)
