"""The ``user-session`` layout: one STRING per user's conversation.

``conversation:{user_id}:{conversation_id}`` holds JSON ``{"userId", "conversationId",
"messages": [{"role", "content", "timestamp" (epoch milliseconds)}], "metadata",
"lastUpdated"}``. The only layout that names its owner: ``userId`` is taken as the
Numina username only with --trust-data-user-ids, and never over --user or --user-map
(the owner resolution is ``migration.Owners``).
"""

from __future__ import annotations

from .base import Layout, Reading, Snapshot, loads_object, parse_epoch_ms, read_json_value

PREFIX = "conversation:"


class UserSession(Layout):
    name = "user-session"
    redis_type = "string"

    def claims(self, snapshot: Snapshot) -> bool:
        if snapshot.redis_type != "string" or snapshot.key.count(":") < 2:
            return False
        if not snapshot.key.startswith(PREFIX):
            return False
        value = loads_object(snapshot.text)
        return value is not None and "userId" in value and "messages" in value

    def legacy_id(self, key: str) -> str:
        return key.removeprefix(PREFIX).split(":", 1)[0]

    def read(self, snapshot: Snapshot) -> Reading:
        value, reading = read_json_value(snapshot, layout=self.name, parse_time=parse_epoch_ms)
        owner = value.get("userId")
        if owner is None:
            owner = self.legacy_id(snapshot.key)
        reading.owner_name = str(owner)
        return reading
