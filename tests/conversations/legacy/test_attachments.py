"""Legacy attachments (issue 17): what a legacy message carried besides its text is kept
on the message's ``attachments`` (before, it was dropped), through the COPY path."""

import json

import pytest
from langchain_core.messages import HumanMessage

from conversations.models import Message

from .conftest import conversation_for
from .writers import langchain_history

pytestmark = pytest.mark.django_db


def _messages(layout, key):
    return list(Message.objects.filter(conversation=conversation_for(layout, key)).order_by("seq"))


def test_session_items_keep_their_attachment_strings(legacy_redis, migrate, user):
    value = {
        "sessionId": "s1",
        "createdAt": "2024-05-01T10:00:00Z",
        "updatedAt": "2024-05-01T10:00:01Z",
        "messages": [
            {
                "role": "user",
                "content": "see the chart",
                "timestamp": "2024-05-01T10:00:00Z",
                "attachments": ["https://files.example/chart.png", {"name": "notes.txt"}],
            },
            {"role": "assistant", "content": "nice", "timestamp": "2024-05-01T10:00:01Z"},
        ],
    }
    legacy_redis.set("conversation:s1", json.dumps(value))

    run = migrate("--user", user.username)

    assert run.exit_code == 0, run.report
    first, second = _messages("session", "conversation:s1")
    assert first.attachments == ["https://files.example/chart.png", "notes.txt"]
    assert second.attachments == []


def test_langchain_image_blocks_become_attachments(legacy_redis, migrate, user):
    history = langchain_history("img")
    history.add_message(
        HumanMessage(
            content=[
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://img.example/cat.jpg"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ]
        )
    )

    migrate("--user", user.username)

    [message] = _messages("langchain", "message_store:img")
    assert message.content == "what is this?"
    assert message.attachments == ["https://img.example/cat.jpg"]
    # The inline image could not be kept as a string: counted, and its raw block kept.
    assert message.metadata["legacy"]["attachments_not_kept"] == 1
    assert len(message.metadata["legacy"]["blocks"]) == 3


def test_llamaindex_image_blocks_become_attachments(legacy_redis, migrate, user):
    item = {
        "role": "user",
        "additional_kwargs": {},
        "blocks": [
            {"block_type": "text", "text": "look"},
            {"block_type": "image", "url": "https://img.example/a.png", "path": None},
        ],
    }
    legacy_redis.rpush("chat_history", json.dumps(item))

    migrate("--user", user.username)

    [message] = _messages("llamaindex", "chat_history")
    assert message.attachments == ["https://img.example/a.png"]


def test_at_most_the_attachment_limit_is_kept(legacy_redis, migrate, user, settings):
    settings.NUMINA_MAX_ATTACHMENTS = 2
    value = {
        "sessionId": "s2",
        "createdAt": "2024-05-01T10:00:00Z",
        "updatedAt": "2024-05-01T10:00:00Z",
        "messages": [
            {
                "role": "user",
                "content": "many",
                "timestamp": "2024-05-01T10:00:00Z",
                "attachments": [f"https://x.example/{n}" for n in range(4)],
            }
        ],
    }
    legacy_redis.set("conversation:s2", json.dumps(value))

    migrate("--user", user.username)

    [message] = _messages("session", "conversation:s2")
    assert message.attachments == ["https://x.example/0", "https://x.example/1"]
    assert message.metadata["legacy"]["attachments_not_kept"] == 2
