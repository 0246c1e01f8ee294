"""The ``memory`` layout: a conversation-memory service's Redis keys.

``conversation:messages:{id}`` is a LIST (RPUSH, oldest first, trimmed to the newest 50)
of ``{"type": "HumanMessage", "content": …}`` items or LangChain ``message_to_dict``
items; ``conversation:summary:{id}`` holds the conversation's summary and
``conversation:turns:{id}`` a turn counter (not a message). The summary and the counter
are read in the same snapshot as the list, and deleted with it under --delete-source.
"""

from __future__ import annotations

from typing import Any

from .base import (
    BadItem,
    ItemError,
    Layout,
    LegacyMessage,
    Reading,
    Snapshot,
    make_message,
    read_items,
)
from .langchain import is_message_dict, message_from_dict

MESSAGES = "conversation:messages:"
SUMMARY = "conversation:summary:"
TURNS = "conversation:turns:"


def _message(raw: bytes, value: Any) -> LegacyMessage:
    if is_message_dict(value):
        return message_from_dict(raw, value, layout=Memory.name)
    if not isinstance(value, dict) or not isinstance(value.get("type") or value.get("role"), str):
        raise ItemError("not a message object")
    return make_message(
        raw=raw,
        role=value.get("type") or value.get("role"),
        content=value.get("content"),
        legacy={"layout": Memory.name, "id": value.get("id")},
    )


class Memory(Layout):
    name = "memory"
    redis_type = "list"

    def companion_keys(self, key: str) -> list[str]:
        if not key.startswith(MESSAGES):
            return []
        conversation_id = key.removeprefix(MESSAGES)
        return [SUMMARY + conversation_id, TURNS + conversation_id]

    def is_companion(self, key: str) -> bool:
        return key.startswith((SUMMARY, TURNS))

    def claims(self, snapshot: Snapshot) -> bool:
        return snapshot.redis_type == "list" and snapshot.key.startswith(MESSAGES)

    def legacy_id(self, key: str) -> str:
        return key.removeprefix(MESSAGES)

    def read(self, snapshot: Snapshot) -> Reading:
        reading = Reading()
        read_items(snapshot.items, _message, reading)
        summary = snapshot.companions.get(SUMMARY + self.legacy_id(snapshot.key))
        if summary is not None:
            try:
                reading.summary = summary.decode("utf-8").replace("\x00", "")
            except UnicodeDecodeError:
                reading.bad_items.append(BadItem(position=None, reason="summary is not UTF-8"))
        return reading
