"""Re-runs: nothing twice, only what is new, matched by content rather than position."""

import pytest
from langchain_core.messages import HumanMessage

from conversations import services
from conversations.legacy.snapshot import LegacyRedis
from conversations.models import Conversation, Message

from .conftest import LEGACY_REDIS_URL, conversation_for, stored
from .writers import langchain_history, llamaindex_add, memory_push

pytestmark = pytest.mark.django_db

KEY = "conversation:messages:c"


def _say(n):
    return {"type": "HumanMessage" if n % 2 == 0 else "AIMessage", "content": f"message {n}"}


def _contents(conversation):
    return [content for _, content in stored(conversation)]


def test_rerun_of_an_unchanged_key_imports_nothing(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", *[_say(n) for n in range(5)])
    migrate("--user", user.username)
    before = Conversation.objects.get()

    run = migrate("--user", user.username)

    after = Conversation.objects.get()
    assert run.report["messages_imported"] == 0
    assert run.report["messages_already_present"] == 5
    assert run.report["conversations_created"] == run.report["conversations_updated"] == 0
    assert (after.message_count, after.change_seq) == (5, before.change_seq)


def test_grown_key_imports_only_the_new_messages(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", *[_say(n) for n in range(3)])
    migrate("--user", user.username)
    memory_push(legacy_redis, "c", _say(3), _say(4))

    run = migrate("--user", user.username)

    conversation = conversation_for("memory", KEY)
    assert run.report["messages_imported"] == 2
    assert run.report["conversations_updated"] == 1
    assert _contents(conversation) == [f"message {n}" for n in range(5)]
    assert list(conversation.messages.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]
    assert conversation.message_count == 5


def test_trimmed_list_is_matched_by_content_not_position(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", *[_say(n) for n in range(50)])
    migrate("--user", user.username)
    # Twelve more: the memory service trims the twelve oldest away.
    memory_push(legacy_redis, "c", *[_say(n) for n in range(50, 62)])
    assert legacy_redis.llen(KEY) == 50

    run = migrate("--user", user.username)

    assert run.report["messages_imported"] == 12
    assert run.report["messages_already_present"] == 38
    assert _contents(conversation_for("memory", KEY)) == [f"message {n}" for n in range(62)]


def test_repeated_identical_messages_are_not_mistaken_for_stored_ones(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", {"type": "HumanMessage", "content": "ok"})
    migrate("--user", user.username)
    memory_push(legacy_redis, "c", {"type": "HumanMessage", "content": "ok"})

    run = migrate("--user", user.username)

    assert run.report["messages_imported"] == 1
    assert _contents(conversation_for("memory", KEY)) == ["ok", "ok"]


def test_lpush_list_grown_at_the_front_imports_the_new_messages(legacy_redis, migrate, user):
    history = langchain_history("s")
    history.add_message(HumanMessage("one"))
    migrate("--user", user.username)
    history.add_message(HumanMessage("two"))
    history.add_message(HumanMessage("three"))

    run = migrate("--user", user.username)

    assert run.report["messages_imported"] == 2
    assert _contents(conversation_for("langchain", "message_store:s")) == ["one", "two", "three"]


def test_messages_added_in_numina_do_not_break_the_match(legacy_redis, migrate, user):
    llamaindex_add("chat", "user", "legacy one")
    migrate("--user", user.username)
    conversation = conversation_for("llamaindex", "chat")
    services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="said in Numina"
    )
    llamaindex_add("chat", "assistant", "legacy two")

    run = migrate("--user", user.username)

    assert run.report["messages_imported"] == 1
    assert _contents(conversation) == ["legacy one", "said in Numina", "legacy two"]


def test_changed_summary_is_updated_on_rerun(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", _say(0))
    legacy_redis.set("conversation:summary:c", "first summary")
    migrate("--user", user.username)
    legacy_redis.set("conversation:summary:c", "second summary")

    migrate("--user", user.username)

    assert conversation_for("memory", KEY).summary == "second summary"


def test_dry_run_writes_nothing_and_reports_what_it_would_do(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", *[_say(n) for n in range(4)])
    llamaindex_add("chat", "user", "hi")

    run = migrate("--user", user.username, "--dry-run")

    assert not Conversation.objects.exists()
    assert not Message.objects.exists()
    assert run.report["dry_run"] is True
    assert run.report["conversations_created"] == 2
    assert run.report["messages_imported"] == 5
    assert legacy_redis.exists(KEY, "chat") == 2


def test_dry_run_after_a_run_counts_only_what_is_new(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", _say(0))
    migrate("--user", user.username)
    memory_push(legacy_redis, "c", _say(1))

    run = migrate("--user", user.username, "--dry-run")

    assert run.report["messages_imported"] == 1
    assert run.report["messages_already_present"] == 1
    assert conversation_for("memory", KEY).message_count == 1


def test_delete_source_removes_imported_keys_and_their_companions(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", _say(0), _say(1))
    legacy_redis.set("conversation:summary:c", "s")
    llamaindex_add("chat", "user", "hi")

    run = migrate("--user", user.username, "--delete-source")

    assert run.report["keys_deleted"] == 2
    assert legacy_redis.dbsize() == 0
    assert Message.objects.count() == 3


def test_delete_source_keeps_a_key_with_bad_items(legacy_redis, migrate, user):
    legacy_redis.rpush("chat", '{"role": "user", "content": "ok"}', b"\xff")

    run = migrate("--user", user.username, "--delete-source")

    assert run.report["keys_deleted"] == 0
    assert legacy_redis.llen("chat") == 2


def test_delete_source_keeps_unresolved_and_unknown_keys(legacy_redis, migrate):
    llamaindex_add("chat", "user", "nobody's")
    legacy_redis.set("other", "x")

    migrate("--delete-source")

    assert legacy_redis.exists("chat", "other") == 2


def test_compare_and_delete_keeps_a_key_changed_since_it_was_read(legacy_redis):
    llamaindex_add("chat", "user", "read")
    source = LegacyRedis(LEGACY_REDIS_URL)
    (snapshot,) = source.snapshots([b"chat"])
    llamaindex_add("chat", "assistant", "pushed after the read")

    assert source.delete_if_unchanged(snapshot) is False
    assert legacy_redis.llen("chat") == 2


def test_compare_and_delete_removes_an_unchanged_key(legacy_redis):
    memory_push(legacy_redis, "c", _say(0))
    legacy_redis.set("conversation:summary:c", "s")
    source = LegacyRedis(LEGACY_REDIS_URL)
    (snapshot,) = source.snapshots([KEY.encode()])

    assert source.delete_if_unchanged(snapshot) is True
    assert legacy_redis.dbsize() == 0


def test_compare_and_delete_keeps_a_key_whose_summary_changed(legacy_redis):
    memory_push(legacy_redis, "c", _say(0))
    source = LegacyRedis(LEGACY_REDIS_URL)
    (snapshot,) = source.snapshots([KEY.encode()])
    legacy_redis.set("conversation:summary:c", "written after the read")

    assert source.delete_if_unchanged(snapshot) is False


@pytest.mark.parametrize("legacy_summary", ["first summary", "second summary"])
def test_rerun_never_writes_a_legacy_summary_over_numinas_own(
    legacy_redis, migrate, user, legacy_summary
):
    memory_push(legacy_redis, "c", *[_say(n) for n in range(4)])
    legacy_redis.set("conversation:summary:c", "first summary")
    migrate("--user", user.username)
    # Numina's own summary of the first three messages, as summaries.py stores it.
    Conversation.objects.filter(legacy_key__endswith=KEY).update(
        summary="numina summary", summary_covers_seq=3
    )
    legacy_redis.set("conversation:summary:c", legacy_summary)
    memory_push(legacy_redis, "c", _say(4))

    run = migrate("--user", user.username)

    conversation = conversation_for("memory", KEY)
    assert (conversation.summary, conversation.summary_covers_seq) == ("numina summary", 3)
    assert run.report["messages_imported"] == 1
    assert conversation.message_count == 5


def test_rerun_of_an_unchanged_key_keeps_numinas_summary(legacy_redis, migrate, user):
    memory_push(legacy_redis, "c", *[_say(n) for n in range(4)])
    legacy_redis.set("conversation:summary:c", "legacy summary")
    migrate("--user", user.username)
    Conversation.objects.filter(legacy_key__endswith=KEY).update(
        summary="numina summary", summary_covers_seq=3
    )

    run = migrate("--user", user.username)

    assert conversation_for("memory", KEY).summary == "numina summary"
    assert run.report["conversations_updated"] == 0
