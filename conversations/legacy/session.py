"""The ``session`` layout: one STRING per chat session.

``conversation:{session_id}`` holds JSON ``{"sessionId", "messages": [{"role",
"content", "timestamp" (ISO 8601)}], "summary", "messageCount", "createdAt",
"updatedAt"}``, messages in chronological order.
"""

from __future__ import annotations

from .base import Layout, Reading, Snapshot, loads_object, parse_iso, read_json_value

PREFIX = "conversation:"


class Session(Layout):
    name = "session"
    redis_type = "string"

    def claims(self, snapshot: Snapshot) -> bool:
        if snapshot.redis_type != "string" or not snapshot.key.startswith(PREFIX):
            return False
        value = loads_object(snapshot.text)
        return value is not None and "sessionId" in value and "messages" in value

    def legacy_id(self, key: str) -> str:
        return key.removeprefix(PREFIX)

    def read(self, snapshot: Snapshot) -> Reading:
        value, reading = read_json_value(snapshot, layout=self.name, parse_time=parse_iso)
        summary = value.get("summary")
        if isinstance(summary, str) and summary:
            reading.summary = summary.replace("\x00", "")
        return reading
