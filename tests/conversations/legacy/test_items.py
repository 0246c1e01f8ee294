"""Real data's rough edges: one bad item is reported and never stops the rest."""

import json

import pytest
from django.test import override_settings
from langchain_core.messages import AIMessage, ChatMessage, HumanMessage, ToolMessage

from conversations.models import Message

from .conftest import conversation_for, stored
from .writers import langchain_history, llamaindex_add, memory_push, session_set

pytestmark = pytest.mark.django_db


def _legacy(conversation, seq):
    return Message.objects.get(conversation=conversation, seq=seq).metadata["legacy"]


def test_malformed_json_item_is_reported_and_the_rest_imported(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", {"type": "HumanMessage", "content": "ok"}, b'{"type": "Hum')
    memory_push(legacy_redis, "c", {"type": "AIMessage", "content": "after"})

    run = migrate("--user", user.username)

    assert stored(conversation_for("memory", "conversation:messages:c")) == [
        ("user", "ok"),
        ("assistant", "after"),
    ]
    assert run.report["bad_items"] == [
        {"key": "conversation:messages:c", "position": 1, "reason": "malformed JSON"}
    ]
    assert run.exit_code == 1


def test_non_utf8_item_is_reported_with_its_position(legacy_redis, migrate, user):
    legacy_redis.rpush("chat", json.dumps({"role": "user", "content": "fine"}), b"\xff\xfe\x00")

    run = migrate("--user", user.username)

    assert stored(conversation_for("llamaindex", "chat")) == [("user", "fine")]
    assert run.report["bad_items"][0]["position"] == 1
    assert run.report["bad_items"][0]["reason"].startswith("not UTF-8")
    assert run.exit_code == 1


def test_a_bad_key_does_not_stop_other_keys(legacy_redis, migrate, user):
    legacy_redis.set("conversation:broken", b'{"sessionId": "broken", "messages": [')
    llamaindex_add("chat", "user", "still here")

    run = migrate("--user", user.username, "--format", "session", "--match", "conversation:*")
    run_all = migrate("--user", user.username)

    assert run.report["bad_item_count"] == 1
    assert run.report["bad_items"][0]["position"] is None
    assert stored(conversation_for("llamaindex", "chat")) == [("user", "still here")]
    assert run_all.report["skipped"]["unknown layout"] == 1


def test_nul_characters_are_removed_and_counted_in_metadata(legacy_redis, migrate, user):
    session_set(legacy_redis, "n", [("user", "a\x00b\x00c", "2025-01-01T00:00:00Z")])

    run = migrate("--user", user.username)

    conversation = conversation_for("session", "conversation:n")
    assert stored(conversation) == [("user", "abc")]
    assert _legacy(conversation, 1)["nul_removed"] == 2
    assert run.exit_code == 0


def test_plain_role_colon_content_strings_are_read(legacy_redis, migrate, user):
    legacy_redis.rpush("conversation:messages:p", "user: hi there", "assistant: hello: friend")

    run = migrate("--user", user.username)

    assert stored(conversation_for("memory", "conversation:messages:p")) == [
        ("user", "hi there"),
        ("assistant", "hello: friend"),
    ]
    assert run.exit_code == 0


def test_content_blocks_keep_their_text_and_raw_blocks(legacy_redis, migrate, user):
    blocks = [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "tu1", "name": "search", "input": {"q": "x"}},
    ]
    langchain_history("b").add_message(AIMessage(content=blocks))

    migrate("--user", user.username)

    conversation = conversation_for("langchain", "message_store:b")
    assert stored(conversation) == [("assistant", "Let me look.")]
    assert _legacy(conversation, 1)["blocks"] == blocks


def test_tool_messages_keep_their_role_and_call_id(legacy_redis, migrate, user):
    history = langchain_history("tools")
    history.add_message(HumanMessage("weather?"))
    history.add_message(
        AIMessage(content="", tool_calls=[{"name": "weather", "args": {}, "id": "call1"}])
    )
    history.add_message(ToolMessage(content="sunny", tool_call_id="call1"))

    run = migrate("--user", user.username)

    conversation = conversation_for("langchain", "message_store:tools")
    assert stored(conversation) == [("user", "weather?"), ("assistant", ""), ("user", "sunny")]
    assert _legacy(conversation, 2)["tool_calls"][0]["id"] == "call1"
    assert _legacy(conversation, 3)["role"] == "tool"
    assert _legacy(conversation, 3)["tool_call_id"] == "call1"
    assert run.exit_code == 0


def test_unknown_roles_are_kept_in_metadata(legacy_redis, migrate, user):
    langchain_history("r").add_message(ChatMessage(role="narrator", content="Once upon"))

    migrate("--user", user.username)

    conversation = conversation_for("langchain", "message_store:r")
    assert stored(conversation) == [("user", "Once upon")]
    assert _legacy(conversation, 1)["role"] == "narrator"
    assert _legacy(conversation, 1)["role_unknown"] is True


@override_settings(NUMINA_CONTENT_MAX_LENGTH=10)
def test_content_over_the_limit_is_a_bad_item_not_cut(legacy_redis, migrate, user):
    llamaindex_add("long", "user", "short")
    llamaindex_add("long", "assistant", "far too long for the limit")

    run = migrate("--user", user.username)

    assert stored(conversation_for("llamaindex", "long")) == [("user", "short")]
    assert run.report["bad_items"] == [
        {
            "key": "long",
            "position": 1,
            "reason": "content of 26 characters exceeds the limit of 10",
        }
    ]
    assert run.exit_code == 1


def test_langchain_bad_item_is_reported_by_its_redis_index(legacy_redis, migrate, user):
    history = langchain_history("idx")
    history.add_message(HumanMessage("oldest"))
    legacy_redis.lpush("message_store:idx", "garbage")
    history.add_message(HumanMessage("newest"))

    run = migrate("--user", user.username)

    # LPUSH: index 0 is the newest, so the garbage sits at LINDEX 1.
    assert run.report["bad_items"][0]["position"] == 1
    assert stored(conversation_for("langchain", "message_store:idx")) == [
        ("user", "oldest"),
        ("user", "newest"),
    ]


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_deeply_nested_item_is_a_bad_item_and_the_run_goes_on(legacy_redis, migrate, user):
    deep = '{"type": "HumanMessage", "content": ' + _nested(100_000) + "}"
    memory_push(legacy_redis, "c", {"type": "HumanMessage", "content": "ok"}, deep.encode())
    memory_push(legacy_redis, "c", {"type": "AIMessage", "content": "after"})
    legacy_redis.rpush("chat", _nested(100_000), json.dumps({"role": "user", "content": "x"}))
    llamaindex_add("other", "user", "still here")

    run = migrate("--user", user.username)

    assert stored(conversation_for("memory", "conversation:messages:c")) == [
        ("user", "ok"),
        ("assistant", "after"),
    ]
    assert stored(conversation_for("llamaindex", "other")) == [("user", "still here")]
    assert {(item["key"], item["position"]) for item in run.report["bad_items"]} >= {
        ("conversation:messages:c", 1)
    }
    assert all("nested more than" in item["reason"] for item in run.report["bad_items"])
    assert run.exit_code == 1


def test_moderately_nested_content_blocks_are_bounded_too(legacy_redis, migrate, user):
    # Deep enough to pass the parser but to overflow a recursive walk afterwards.
    deep = '{"role": "user", "content": ' + _nested(900) + ', "x": "\\u0000"}'
    legacy_redis.rpush("chat", json.dumps({"role": "user", "content": "fine"}), deep)

    run = migrate("--user", user.username)

    assert stored(conversation_for("llamaindex", "chat")) == [("user", "fine")]
    assert run.report["bad_items"][0]["position"] == 1
    assert "nested more than" in run.report["bad_items"][0]["reason"]


def test_deeply_nested_session_value_is_one_bad_item(legacy_redis, migrate, user):
    legacy_redis.set(
        "conversation:s",
        '{"sessionId": "s", "messages": [{"role": "user", "content": ' + _nested(100_000) + "}]}",
    )
    llamaindex_add("chat", "user", "still here")

    run = migrate("--user", user.username, "--format", "session", "--match", "conversation:*")
    run_all = migrate("--user", user.username)

    assert run.report["bad_items"][0]["position"] is None
    assert "nested more than" in run.report["bad_items"][0]["reason"]
    assert stored(conversation_for("llamaindex", "chat")) == [("user", "still here")]
    assert run_all.exit_code in (0, 1)
