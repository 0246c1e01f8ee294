"""The ``llamaindex`` layout: LlamaIndex's RedisChatStore.

Any key the application chose, a LIST (RPUSH, oldest first) of ``ChatMessage`` JSON:
``{"role", "additional_kwargs", "blocks": [{"block_type": "text", "text"}]}``, or in
older versions ``{"role", "content", "additional_kwargs"}``. The whole key is the
legacy id, since the key has no fixed pattern.
"""

from __future__ import annotations

from typing import Any

from .base import ItemError, Layout, LegacyMessage, Reading, Snapshot, loads_object, make_message
from .base import read_items as _read_items


def _is_chat_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("role"), str)
        and ("blocks" in value or "content" in value)
        and "data" not in value
    )


def _message(raw: bytes, value: Any) -> LegacyMessage:
    if not _is_chat_message(value):
        raise ItemError("not a LlamaIndex chat message")
    blocks = value.get("blocks")
    if isinstance(blocks, list):
        # Plain text blocks become the content; anything else keeps the raw blocks.
        only_text = all(isinstance(b, dict) and b.get("block_type") == "text" for b in blocks)
        content: Any = "\n".join(str(b.get("text") or "") for b in blocks) if only_text else blocks
    else:
        content = value.get("content")
    kwargs = value.get("additional_kwargs")
    return make_message(
        raw=raw,
        role=value["role"],
        content=content,
        legacy={"layout": LlamaIndex.name, "additional_kwargs": value.get("additional_kwargs")},
        attachments=kwargs.get("attachments") if isinstance(kwargs, dict) else None,
    )


class LlamaIndex(Layout):
    name = "llamaindex"
    redis_type = "list"

    def claims(self, snapshot: Snapshot) -> bool:
        if snapshot.redis_type != "list":
            return False
        return any(_is_chat_message(loads_object(item)) for item in snapshot.items[:3])

    def legacy_id(self, key: str) -> str:
        return key

    def read(self, snapshot: Snapshot) -> Reading:
        reading = Reading()
        _read_items(snapshot.items, _message, reading)
        return reading
