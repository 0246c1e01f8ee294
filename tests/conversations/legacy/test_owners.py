"""Whose conversation: --user, --user-map, the data's own user; never a guess."""

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from conversations.models import Conversation

from .conftest import LEGACY_REDIS_URL, conversation_for
from .writers import llamaindex_add, memory_push, session_set, user_session_set

pytestmark = pytest.mark.django_db

WHEN = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def user_map(tmp_path):
    def write(rows: list[tuple[str, str]], header: str = "legacy_id,username") -> str:
        path = tmp_path / "owners.csv"
        path.write_text("\n".join([header, *(f"{a},{b}" for a, b in rows)]) + "\n")
        return str(path)

    return write


def test_keys_without_an_owner_are_skipped_and_listed(legacy_redis, migrate):
    llamaindex_add("chat", "user", "whose?")
    memory_push(legacy_redis, "c", {"type": "HumanMessage", "content": "whose?"})

    run = migrate()

    assert run.report["skipped"]["unresolved owner"] == 2
    assert sorted(run.report["skipped_keys"]["unresolved owner"]) == [
        "chat",
        "conversation:messages:c",
    ]
    assert not Conversation.objects.exists()


def test_user_map_assigns_each_layout_by_its_legacy_id(
    legacy_redis, migrate, user_map, user, other_user
):
    memory_push(legacy_redis, "c1", {"type": "HumanMessage", "content": "m"})
    session_set(legacy_redis, "s1", [("user", "s", "2025-01-01T00:00:00Z")])
    llamaindex_add("history:7", "user", "l")
    path = user_map([("c1", user.username), ("s1", other_user.username), ("history:7", "nobody")])

    run = migrate("--user-map", path)

    assert conversation_for("memory", "conversation:messages:c1").owner == user
    assert conversation_for("session", "conversation:s1").owner == other_user
    assert run.report["skipped_keys"]["unresolved owner"] == ["history:7"]


def test_user_map_overrides_the_user_session_user_id(
    legacy_redis, migrate, user_map, user, other_user
):
    user_session_set(legacy_redis, "legacy-42", "k", [("user", "hi", WHEN)])
    path = user_map([("legacy-42", other_user.username)])

    migrate("--user-map", path)

    assert conversation_for("user-session", "conversation:legacy-42:k").owner == other_user


def test_user_session_naming_an_unknown_user_is_unresolved(legacy_redis, migrate, user):
    user_session_set(legacy_redis, "ghost", "k", [("user", "hi", WHEN)])

    run = migrate("--trust-data-user-ids")

    assert run.report["skipped_keys"]["unresolved owner"] == ["conversation:ghost:k"]
    assert not Conversation.objects.exists()


def test_a_conversation_imported_for_another_user_is_never_reassigned(
    legacy_redis, migrate, user, other_user
):
    llamaindex_add("chat", "user", "first")
    migrate("--user", user.username)
    llamaindex_add("chat", "user", "second")

    run = migrate("--user", other_user.username)

    assert run.report["skipped"] == {"owned by another user": 1}
    conversation = conversation_for("llamaindex", "chat")
    assert (conversation.owner, conversation.message_count) == (user, 1)


def test_user_map_without_its_header_row_is_refused(legacy_redis, user_map, user):
    path = user_map([("c1", user.username)], header="id,name")

    with pytest.raises(CommandError, match="legacy_id,username"):
        call_command("migrate_conversations", "--redis-url", LEGACY_REDIS_URL, "--user-map", path)


def test_unknown_user_option_is_refused_before_reading(legacy_redis):
    with pytest.raises(CommandError, match="No user named"):
        call_command("migrate_conversations", "--redis-url", LEGACY_REDIS_URL, "--user", "nobody")


def test_user_option_wins_over_the_user_id_in_the_data(legacy_redis, migrate, user, other_user):
    # Whoever signed up under the legacy userId must not receive that history.
    user_session_set(legacy_redis, other_user.username, "k", [("user", "hi", WHEN)])

    run = migrate("--user", user.username)

    assert conversation_for("user-session", f"conversation:{other_user.username}:k").owner == user
    assert run.report["data_owners"] == {}


def test_user_id_in_the_data_names_no_owner_without_the_trust_flag(
    legacy_redis, migrate, other_user
):
    user_session_set(legacy_redis, other_user.username, "k", [("user", "hi", WHEN)])

    run = migrate()

    assert run.report["skipped_keys"]["unresolved owner"] == [
        f"conversation:{other_user.username}:k"
    ]
    assert not Conversation.objects.exists()


def test_trusted_data_owners_are_listed_in_the_report(legacy_redis, migrate, user, other_user):
    user_session_set(legacy_redis, user.username, "a", [("user", "hi", WHEN)])
    user_session_set(legacy_redis, other_user.username, "b", [("user", "ho", WHEN)])

    run = migrate("--trust-data-user-ids")

    assert run.report["data_owner_count"] == 2
    assert run.report["data_owners"] == {
        f"conversation:{user.username}:a": user.username,
        f"conversation:{other_user.username}:b": other_user.username,
    }
    assert conversation_for("user-session", f"conversation:{other_user.username}:b").owner == (
        other_user
    )


def test_user_map_wins_over_trusted_data(legacy_redis, migrate, user_map, user, other_user):
    user_session_set(legacy_redis, other_user.username, "k", [("user", "hi", WHEN)])
    path = user_map([(other_user.username, user.username)])

    run = migrate("--user-map", path, "--trust-data-user-ids")

    assert conversation_for("user-session", f"conversation:{other_user.username}:k").owner == user
    assert run.report["data_owners"] == {}
