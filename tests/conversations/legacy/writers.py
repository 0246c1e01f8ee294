"""Legacy data written the way each layout's real writer writes it.

``langchain`` and ``llamaindex`` go through the libraries themselves
(langchain-community's RedisChatMessageHistory, llama-index's RedisChatStore); the
three JSON/list layouts have no public writer, so they follow LEGACY.md's shapes.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime

from .conftest import LEGACY_REDIS_URL

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from langchain_community.chat_message_histories import RedisChatMessageHistory
from llama_index.core.llms import ChatMessage
from llama_index.storage.chat_store.redis import RedisChatStore


def langchain_history(session_id: str, *, ttl: int | None = None) -> RedisChatMessageHistory:
    return RedisChatMessageHistory(session_id, url=LEGACY_REDIS_URL, ttl=ttl)


def llamaindex_store() -> RedisChatStore:
    return RedisChatStore(redis_url=LEGACY_REDIS_URL)


def llamaindex_add(key: str, role: str, content: str) -> None:
    llamaindex_store().add_message(key, ChatMessage(role=role, content=content))


def memory_push(client, conversation_id: str, *items, keep: int = 50) -> None:
    """RPUSH then trim to the newest ``keep``, as the memory service does."""
    key = f"conversation:messages:{conversation_id}"
    encoded = [item if isinstance(item, bytes) else json.dumps(item) for item in items]
    client.rpush(key, *encoded)
    client.ltrim(key, -keep, -1)
    client.incrby(f"conversation:turns:{conversation_id}", len(items))


def session_set(client, session_id: str, messages: list[tuple[str, str, str]], **extra) -> None:
    """``messages`` as (role, content, ISO 8601 timestamp)."""
    value = {
        "sessionId": session_id,
        "messages": [{"role": r, "content": c, "timestamp": t} for r, c, t in messages],
        "summary": extra.pop("summary", ""),
        "messageCount": len(messages),
        "createdAt": messages[0][2] if messages else None,
        "updatedAt": messages[-1][2] if messages else None,
        **extra,
    }
    client.set(f"conversation:{session_id}", json.dumps(value), ex=86400)


def user_session_set(client, user_id: str, conversation_id: str, messages) -> None:
    """``messages`` as (role, content, datetime)."""
    value = {
        "userId": user_id,
        "conversationId": conversation_id,
        "messages": [
            {"role": r, "content": c, "timestamp": int(t.timestamp() * 1000)}
            for r, c, t in messages
        ],
        "metadata": {"client": "web"},
        "lastUpdated": int(datetime.now(tz=UTC).timestamp() * 1000),
    }
    client.set(f"conversation:{user_id}:{conversation_id}", json.dumps(value))
