"""Migration 0010 (``record_stored_messages``) run for real: the test database goes back
to 0009, gets conversations and messages stored the way they were before batches, and
migrates forward; a sync with messages from the beginning then holds all of them."""

import importlib
import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from accounts.services import issue_token
from conversations import services
from conversations.models import MessageBatch

BEFORE_BATCHES = [("conversations", "0009_conversation_client_id")]
RECORD = importlib.import_module("conversations.migrations.0010_message_batches")


def _latest(executor: MigrationExecutor) -> list[tuple[str, str]]:
    executor.loader.build_graph()
    return executor.loader.graph.leaf_nodes()


@pytest.fixture
def before_batches(transactional_db):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_BATCHES)
    try:
        yield executor
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(_latest(executor))
        assert not executor.migration_plan(_latest(executor))


def _insert(cursor, *, owner_id: uuid.UUID, change_seq: int, seqs: list[int]) -> uuid.UUID:
    """A conversation as 0009 stored it, at ``change_seq``, with messages at ``seqs``."""
    conversation_id = uuid.uuid4()
    cursor.execute(
        "INSERT INTO conversations_conversation (id, owner_id, title, title_set_by_user,"
        " summary, summary_covers_seq, is_archived, is_pinned, message_count, preview,"
        " last_activity_at, created_at, updated_at, change_seq)"
        " VALUES (%s, %s, '', false, '', 0, false, false, %s, '', now(), now(), now(), %s)",
        [conversation_id, owner_id, len(seqs), change_seq],
    )
    cursor.execute(
        "INSERT INTO conversations_message (id, conversation_id, owner_id, seq, depth, role,"
        " content, attachments, metadata, created_at)"
        " SELECT gen_random_uuid(), %s, %s, s, s, 'user', 'message ' || s, '[]', '{}', now()"
        " FROM unnest(%s::int[]) s",
        [conversation_id, owner_id, seqs],
    )
    return conversation_id


def test_old_messages_become_one_batch_per_conversation_that_sync_carries(
    before_batches, monkeypatch
):
    from tests.factories import UserFactory

    monkeypatch.setattr(RECORD, "BATCH", 2)
    user = UserFactory()
    with connection.cursor() as cursor:
        plain = _insert(cursor, owner_id=user.pk, change_seq=3, seqs=[1, 2, 3])
        gap = _insert(cursor, owner_id=user.pk, change_seq=5, seqs=[1, 2, 5])
        empty = _insert(cursor, owner_id=user.pk, change_seq=6, seqs=[])
        many = _insert(cursor, owner_id=user.pk, change_seq=9, seqs=list(range(1, 251)))
        unstamped = _insert(cursor, owner_id=user.pk, change_seq=0, seqs=[1])
        cursor.execute(
            "INSERT INTO conversations_changecounter (owner_id, value) VALUES (%s, 9)", [user.pk]
        )

    executor = before_batches
    executor.loader.build_graph()
    executor.migrate(_latest(executor))

    batches = set(
        MessageBatch.objects.values_list("conversation_id", "change_seq", "first_seq", "last_seq")
    )
    assert batches == {(plain, 3, 1, 3), (gap, 5, 1, 5), (many, 9, 1, 250)}

    # A resumed run finds nothing left to record.
    with connection.schema_editor(atomic=False) as editor:
        RECORD.record_stored_messages(apps, editor)
    assert MessageBatch.objects.count() == 3

    # A new write records its own batch after the old ones.
    services.add_message(user=user, conversation_id=plain, role="user", content="new")

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user)[0]}")
    messages, conversations, since = [], set(), None
    while True:
        params = {"include": "messages", "page_size": 40}
        if since:
            params["since"] = since
        body = client.get("/api/v1/sync/", params).json()
        messages += [(m["conversation_id"], m["seq"]) for m in body["messages"]]
        conversations |= {c["id"] for c in body["conversations"]}
        since = body["next_since"]
        if not body["has_more"]:
            break
    assert len(messages) == len(set(messages)) == 3 + 3 + 250 + 1
    assert {c for c, _ in messages} == {str(plain), str(gap), str(many)}
    assert conversations == {str(plain), str(gap), str(empty), str(many)}
    assert str(unstamped) not in conversations
