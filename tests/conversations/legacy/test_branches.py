"""The legacy import builds the tree as every other write does: each copied message
under the one before it (the first under the conversation's current message), and the
last one current, in the same transaction and with no query per message."""

import pytest

from conversations import services
from conversations.legacy.base import make_message
from conversations.models import Conversation, Message
from conversations.selectors import branches
from conversations.services.legacy_import import import_legacy_conversation

from .conftest import conversation_for
from .writers import session_set

pytestmark = pytest.mark.django_db


def _messages(*contents):
    return [make_message(raw=c.encode(), role="user", content=c) for c in contents]


def _tree(conversation: Conversation) -> list[tuple[str, str | None, int]]:
    """(content, parent's content, depth) in seq order."""
    rows = Message.objects.filter(conversation=conversation).order_by("seq")
    content = {m.id: m.content for m in rows}
    return [(m.content, content.get(m.parent_id), m.depth) for m in rows]


def _current_branch(conversation: Conversation) -> list[str]:
    conversation.refresh_from_db()
    return list(
        branches.branch(
            conversation_id=conversation.id, leaf_id=conversation.current_message_id
        ).values_list("content", flat=True)
    )


def test_the_command_copies_a_key_as_one_straight_branch(legacy_redis, migrate, user):
    turns = [("user" if n % 2 == 0 else "assistant", f"turn {n}") for n in range(5)]
    session_set(
        legacy_redis, "s1", [(r, c, f"2026-01-01T00:00:0{n}Z") for n, (r, c) in enumerate(turns)]
    )

    run = migrate("--user", user.username)

    assert run.exit_code == 0, run.report
    conversation = conversation_for("session", "conversation:s1")
    assert _tree(conversation) == [
        ("turn 0", None, 1),
        ("turn 1", "turn 0", 2),
        ("turn 2", "turn 1", 3),
        ("turn 3", "turn 2", 4),
        ("turn 4", "turn 3", 5),
    ]
    assert conversation.current_message_id == (
        Message.objects.get(conversation=conversation, seq=5).id
    )
    assert _current_branch(conversation) == [c for _, c in turns]


def test_new_legacy_messages_go_under_the_current_message(user):
    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a", "b"))
    conversation = Conversation.objects.get()
    # The user went on in Numina, then the legacy source grew.
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="n")

    outcome = import_legacy_conversation(
        user=user, legacy_key="k", messages=_messages("a", "b", "c", "d")
    )

    assert (outcome.imported, outcome.already_present) == (2, 2)
    assert _tree(conversation) == [
        ("a", None, 1),
        ("b", "a", 2),
        ("n", "b", 3),
        ("c", "n", 4),
        ("d", "c", 5),
    ]
    assert _current_branch(conversation) == ["a", "b", "n", "c", "d"]


def test_new_legacy_messages_follow_the_branch_the_user_switched_to(user):
    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a", "b"))
    conversation = Conversation.objects.get()
    first = Message.objects.get(conversation=conversation, seq=1)
    # An edit of "b": a sibling under "a", which becomes current.
    services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="b2", parent_id=first.id
    )

    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a", "b", "c"))

    assert _tree(conversation)[-1] == ("c", "b2", 3)
    assert _current_branch(conversation) == ["a", "b2", "c"]


def test_a_summary_only_key_then_messages_starts_the_tree_at_depth_one(user):
    import_legacy_conversation(user=user, legacy_key="k", messages=[], summary="earlier")
    conversation = Conversation.objects.get()
    assert conversation.current_message_id is None

    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a", "b"))

    assert _tree(conversation) == [("a", None, 1), ("b", "a", 2)]
    assert _current_branch(conversation) == ["a", "b"]


@pytest.mark.parametrize("count", [3, 300])
def test_the_append_costs_the_same_queries_for_any_number_of_messages(
    user, count, django_assert_num_queries
):
    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a"))
    messages = _messages("a", *(f"m{n}" for n in range(count)))

    # The lock with the current message's depth, the stored fingerprints, the
    # conversation's save with its change number, and the transaction's savepoints;
    # the COPY itself runs on psycopg's own cursor.
    with django_assert_num_queries(6):
        import_legacy_conversation(user=user, legacy_key="k", messages=messages)

    conversation = Conversation.objects.get()
    assert conversation.message_count == count + 1
    assert Message.objects.get(pk=conversation.current_message_id).depth == count + 1
