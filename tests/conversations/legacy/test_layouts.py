"""Each legacy layout, written by its real writer, lands as one conversation in order."""

from datetime import UTC, datetime

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from conversations import selectors
from conversations.models import Conversation, Message

from .conftest import conversation_for, stored
from .writers import (
    langchain_history,
    llamaindex_add,
    memory_push,
    session_set,
    user_session_set,
)

pytestmark = pytest.mark.django_db


def test_langchain_history_imports_oldest_first(legacy_redis, migrate, user):
    history = langchain_history("s1", ttl=3600)
    history.add_message(SystemMessage("be brief"))
    history.add_message(HumanMessage("hello"))
    history.add_message(AIMessage("hi there"))

    run = migrate("--user", user.username)

    assert run.exit_code == 0
    conversation = conversation_for("langchain", "message_store:s1")
    assert stored(conversation) == [
        ("system", "be brief"),
        ("user", "hello"),
        ("assistant", "hi there"),
    ]
    assert conversation.owner == user


def test_llamaindex_store_imports_in_order_under_any_key_name(legacy_redis, migrate, user):
    llamaindex_add("chat_history", "user", "what is 2+2")
    llamaindex_add("chat_history", "assistant", "4")

    run = migrate("--user", user.username)

    assert run.exit_code == 0
    conversation = conversation_for("llamaindex", "chat_history")
    assert stored(conversation) == [("user", "what is 2+2"), ("assistant", "4")]


def test_llamaindex_older_content_shape_is_read(legacy_redis, migrate, user):
    legacy_redis.rpush("u42", '{"role": "user", "content": "old shape", "additional_kwargs": {}}')

    migrate("--user", user.username)

    assert stored(conversation_for("llamaindex", "u42")) == [("user", "old shape")]


def test_memory_list_with_both_item_shapes_and_its_summary(legacy_redis, migrate, user):
    memory_push(
        legacy_redis,
        "c1",
        {"type": "HumanMessage", "content": "first"},
        {"type": "ai", "data": {"content": "second", "id": "run-1"}},
    )
    legacy_redis.set("conversation:summary:c1", "they talked")

    run = migrate("--user", user.username)

    conversation = conversation_for("memory", "conversation:messages:c1")
    assert stored(conversation) == [("user", "first"), ("assistant", "second")]
    assert conversation.summary == "they talked"
    assert run.report["skipped"] == {"companion key": 2}  # the summary and the turn counter
    assert Message.objects.get(conversation=conversation, seq=2).metadata["legacy"]["id"] == "run-1"


def test_session_keeps_its_iso_timestamps_and_summary(legacy_redis, migrate, user):
    session_set(
        legacy_redis,
        "abc",
        [
            ("user", "q", "2025-03-01T10:00:00Z"),
            ("assistant", "a", "2025-03-01T10:00:05+00:00"),
        ],
        summary="a question",
    )

    migrate("--user", user.username)

    conversation = conversation_for("session", "conversation:abc")
    messages = list(conversation.messages.order_by("seq"))
    assert [m.created_at for m in messages] == [
        datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC),
        datetime(2025, 3, 1, 10, 0, 5, tzinfo=UTC),
    ]
    assert "created_at_estimated" not in messages[0].metadata["legacy"]
    assert conversation.summary == "a question"
    assert conversation.last_activity_at == messages[-1].created_at
    assert conversation.created_at == messages[0].created_at


def test_user_session_belongs_to_the_user_it_names_when_trusted(legacy_redis, migrate, user):
    when = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    user_session_set(legacy_redis, user.username, "k1", [("user", "mine", when)])

    run = migrate("--trust-data-user-ids")

    conversation = conversation_for("user-session", f"conversation:{user.username}:k1")
    assert conversation.owner == user
    assert conversation.messages.get().created_at == when
    assert run.exit_code == 0


def test_imported_conversation_carries_counts_preview_and_a_change_number(
    legacy_redis, migrate, user
):
    llamaindex_add("chat", "user", "x" * 300)

    migrate("--user", user.username)

    conversation = conversation_for("llamaindex", "chat")
    assert conversation.message_count == 1
    assert conversation.preview == "x" * 200
    assert conversation.change_seq > 0
    assert conversation.messages.get().seq == 1


def test_messages_without_timestamps_get_increasing_estimated_ones(legacy_redis, migrate, user):
    history = langchain_history("t")
    for n in range(5):
        history.add_message(HumanMessage(f"m{n}"))

    migrate("--user", user.username)

    messages = list(conversation_for("langchain", "message_store:t").messages.order_by("seq"))
    times = [m.created_at for m in messages]
    assert times == sorted(times)
    assert len(set(times)) == 5
    assert all(m.metadata["legacy"]["created_at_estimated"] for m in messages)


def test_forced_format_reads_a_custom_langchain_prefix(legacy_redis, migrate, user):
    history = langchain_history("s2")
    history.key_prefix = "chat:"
    history.add_message(HumanMessage("custom prefix"))

    run = migrate("--user", user.username, "--format", "langchain", "--match", "chat:*")

    assert run.exit_code == 0
    assert stored(conversation_for("langchain", "chat:s2")) == [("user", "custom prefix")]


def test_keys_of_no_known_layout_are_skipped_and_listed(legacy_redis, migrate, user):
    legacy_redis.hset("settings", "theme", "dark")
    legacy_redis.set("counter", "12")

    run = migrate("--user", user.username)

    assert run.report["skipped"] == {"unknown layout": 2}
    assert sorted(run.report["skipped_keys"]["unknown layout"]) == ["counter", "settings"]
    assert not Conversation.objects.exists()
    assert run.exit_code == 0


def test_match_limits_the_keys_read(legacy_redis, migrate, user):
    llamaindex_add("a:1", "user", "one")
    llamaindex_add("b:1", "user", "two")

    run = migrate("--user", user.username, "--match", "a:*")

    assert run.report["keys_scanned"] == 1
    assert Conversation.objects.get().legacy_key.endswith(":a:1")


def test_overlapping_match_patterns_read_a_key_once(legacy_redis, migrate, user):
    llamaindex_add("a:1", "user", "one")

    run = migrate("--user", user.username, "--match", "a:*", "--match", "*")

    assert run.report["keys_scanned"] == 1


def test_imported_messages_are_found_by_the_owners_search(legacy_redis, migrate, user, other_user):
    llamaindex_add("chat", "user", "the aurora over Tromsø was green")

    migrate("--user", user.username)

    assert [m.content for m in selectors.search_messages(user=user, query="aurora")] == [
        "the aurora over Tromsø was green"
    ]
    assert not selectors.search_messages(user=other_user, query="aurora").exists()


def test_imported_conversations_appear_in_the_owners_sync(legacy_redis, migrate, user):
    llamaindex_add("chat", "user", "hello")

    migrate("--user", user.username)

    page = selectors.sync_changes(user=user, since=0, limit=10)
    assert [c.legacy_key for c in page.conversations] == [
        conversation_for("llamaindex", "chat").legacy_key
    ]
