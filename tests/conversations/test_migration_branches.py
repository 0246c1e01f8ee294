"""Migration 0007 (``link_branches``) run for real: the test database goes back to 0005,
gets conversations stored the way they were before the tree (no parent, no depth, no
current message), and migrates forward again through 0006 and 0007."""

import importlib
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from conversations import services
from conversations.models import Conversation, Message
from conversations.selectors import branches

BEFORE_THE_TREE = [("conversations", "0005_tokenusage")]
LINK_BRANCHES = importlib.import_module("conversations.migrations.0007_straight_branches")


def _latest(executor: MigrationExecutor) -> list[tuple[str, str]]:
    executor.loader.build_graph()
    return executor.loader.graph.leaf_nodes()


@pytest.fixture
def before_the_tree(transactional_db):
    """The database at 0005 for the test's body; at the latest migration again after it,
    whatever the test did."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_THE_TREE)
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(_latest(executor))
        assert not executor.migration_plan(_latest(executor))


def _insert_conversation(cursor, *, owner_id: uuid.UUID, seqs: list[int]) -> uuid.UUID:
    """A conversation as 0005 stored it, with messages at ``seqs``, in one statement each."""
    conversation_id = uuid.uuid4()
    cursor.execute(
        "INSERT INTO conversations_conversation (id, owner_id, title, title_set_by_user,"
        " summary, summary_covers_seq, is_archived, is_pinned, message_count, preview,"
        " last_activity_at, created_at, updated_at, change_seq)"
        " VALUES (%s, %s, '', false, '', 0, false, false, %s, '', now(), now(), now(), 0)",
        [conversation_id, owner_id, len(seqs)],
    )
    cursor.execute(
        "INSERT INTO conversations_message (id, conversation_id, owner_id, seq, role, content,"
        " attachments, metadata, created_at)"
        " SELECT gen_random_uuid(), %s, %s, s, CASE WHEN s %% 2 = 1 THEN 'user'"
        " ELSE 'assistant' END, 'message ' || s, '[]', '{}', now() FROM unnest(%s::int[]) s",
        [conversation_id, owner_id, seqs],
    )
    return conversation_id


def _assert_one_straight_branch(conversation_id: uuid.UUID, *, seqs: list[int]) -> None:
    rows = list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .values_list("id", "seq", "parent_id", "depth")
    )
    assert [seq for _, seq, _, _ in rows] == seqs
    parents = [None, *(id_ for id_, _, _, _ in rows)][: len(rows)]
    assert [(parent, depth) for _, _, parent, depth in rows] == [
        (parent, depth) for depth, parent in enumerate(parents, start=1)
    ]
    current = Conversation.objects.get(id=conversation_id).current_message_id
    assert current == (rows[-1][0] if rows else None)


def test_link_branches_makes_every_conversation_one_straight_branch(
    before_the_tree, user, monkeypatch
):
    # Batches of two conversations, so the run pages over several batches.
    monkeypatch.setattr(LINK_BRANCHES, "BATCH", 2)
    shapes = {
        "long": list(range(1, 10_001)),
        "empty": [],
        "one": [1],
        "three": [1, 2, 3],
        # A gap an old row may have left: the order by seq still holds.
        "gap": [1, 2, 5, 6],
        "other": [1, 2],
    }
    with connection.cursor() as cursor:
        ids = {
            name: _insert_conversation(cursor, owner_id=user.pk, seqs=seqs)
            for name, seqs in shapes.items()
        }

    executor = before_the_tree
    executor.loader.build_graph()
    executor.migrate(_latest(executor))

    for name, seqs in shapes.items():
        _assert_one_straight_branch(ids[name], seqs=seqs)
    # The tree reads as it did before it existed.
    long = Conversation.objects.get(id=ids["long"])
    newest = branches.branch(
        conversation_id=long.id, leaf_id=long.current_message_id, limit=50
    ).values_list("seq", flat=True)
    assert list(newest) == list(range(9_951, 10_001))
    assert Message.objects.filter(conversation_id=long.id, parent__isnull=True).count() == 1


def test_a_run_after_the_tree_exists_changes_nothing(before_the_tree, user):
    with connection.cursor() as cursor:
        old = _insert_conversation(cursor, owner_id=user.pk, seqs=[1, 2, 3])
    executor = before_the_tree
    executor.loader.build_graph()
    executor.migrate(_latest(executor))
    # A branch made since: an edit of the second message, now current.
    second = Message.objects.get(conversation_id=old, seq=2)
    services.add_message(
        user=user, conversation_id=old, role="user", content="edited", parent_id=second.parent_id
    )
    before = list(
        Message.objects.filter(conversation_id=old)
        .order_by("seq")
        .values_list("parent_id", "depth")
    )
    current = Conversation.objects.get(id=old).current_message_id

    # As a resumed run would: every batch finds nothing left to link.
    from django.apps import apps

    with connection.schema_editor(atomic=False) as editor:
        LINK_BRANCHES.link_branches(apps, editor)

    after = list(
        Message.objects.filter(conversation_id=old)
        .order_by("seq")
        .values_list("parent_id", "depth")
    )
    assert after == before
    assert Conversation.objects.get(id=old).current_message_id == current
