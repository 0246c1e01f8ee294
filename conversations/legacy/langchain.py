"""The ``langchain`` layout: LangChain's RedisChatMessageHistory.

``message_store:{session_id}`` (the prefix is the application's choice), a LIST written
with LPUSH, so the newest message is first; each item is ``message_to_dict`` JSON.
"""

from __future__ import annotations

from typing import Any

from .base import ItemError, Layout, LegacyMessage, Reading, Snapshot, loads_object, make_message
from .base import read_items as _read_items

PREFIX = "message_store:"
# The fields of message_to_dict's "data" worth keeping beside the text: ids, names and
# the tool calls that explain an empty assistant turn.
KEPT_FIELDS = ("id", "name", "tool_call_id", "tool_calls", "additional_kwargs")


def is_message_dict(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value and isinstance(value.get("data"), dict)


def message_from_dict(raw: bytes, value: Any, *, layout: str) -> LegacyMessage:
    """One message from ``message_to_dict`` JSON; a ``chat`` message names its role."""
    if not is_message_dict(value):
        raise ItemError("not a LangChain message")
    data = value["data"]
    role = data.get("role") if value["type"] == "chat" else value["type"]
    if not isinstance(role, str):
        raise ItemError("message without a role")
    legacy = {"layout": layout, **{name: data.get(name) for name in KEPT_FIELDS}}
    if value["type"] == "chat":
        legacy["type"] = "chat"
    kwargs = data.get("additional_kwargs")
    return make_message(
        raw=raw,
        role=role,
        content=data.get("content"),
        legacy=legacy,
        attachments=kwargs.get("attachments") if isinstance(kwargs, dict) else None,
    )


class LangChain(Layout):
    name = "langchain"
    redis_type = "list"

    def claims(self, snapshot: Snapshot) -> bool:
        if snapshot.redis_type != "list" or snapshot.key.startswith("conversation:"):
            return False
        return any(is_message_dict(loads_object(item)) for item in snapshot.items[:3])

    def legacy_id(self, key: str) -> str:
        return key.removeprefix(PREFIX)

    def read(self, snapshot: Snapshot) -> Reading:
        reading = Reading()
        items = snapshot.items
        # Newest first in Redis: read from the end so messages come oldest first, and
        # report each bad item by its Redis index (what LINDEX takes).
        _read_items(
            items[::-1],
            lambda raw, value: message_from_dict(raw, value, layout=self.name),
            reading,
            positions=range(len(items) - 1, -1, -1),
        )
        return reading
