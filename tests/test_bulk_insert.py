"""numina/bulk_insert.py: rows COPYed in are the rows bulk_create would have stored."""

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from conversations.models import Conversation, MessageBatch
from numina import bulk_insert
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _conversation(owner, **fields) -> Conversation:
    return Conversation(
        id=uuid.uuid4(),
        owner=owner,
        title='A "quoted"\ttitle\nwith\\ and ünïcode',
        title_set_by_user=True,
        summary="",
        summary_covers_seq=3,
        instructions="Be brief.",
        is_archived=True,
        archived_at=datetime(2025, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        is_pinned=True,
        message_count=7,
        preview="last words",
        last_activity_at=datetime(2025, 5, 2, tzinfo=UTC),
        created_at=datetime(2025, 5, 1, tzinfo=UTC),
        change_seq=42,
        legacy_key=f"memory:0:{uuid.uuid4()}",
        client_id=None,
        **fields,
    )


def _stored(conversation: Conversation) -> dict:
    return Conversation.objects.filter(pk=conversation.pk).values().get()


def test_copied_rows_equal_those_bulk_create_stores():
    owner = UserFactory()
    copied, created = _conversation(owner), _conversation(owner)

    bulk_insert.insert([copied])
    Conversation.objects.bulk_create([created])

    assert connection.vendor == "postgresql"  # the COPY path, not the fallback
    mine, theirs = _stored(copied), _stored(created)
    for differs in ("id", "legacy_key", "updated_at"):
        mine.pop(differs), theirs.pop(differs)
    assert mine == theirs
    assert Conversation.objects.get(pk=copied.pk).title == copied.title


def test_copied_objects_are_stored_ones_and_auto_ids_come_from_the_database():
    owner = UserFactory()
    conversation = _conversation(owner)
    bulk_insert.insert([conversation])
    conversation.title = "Saved again"
    conversation.save()  # an UPDATE: the object knows it is stored

    assert Conversation.objects.filter(owner=owner).count() == 1
    assert Conversation.objects.get(pk=conversation.pk).title == "Saved again"
    bulk_insert.insert(
        [
            MessageBatch(
                owner_id=owner.pk,
                conversation_id=conversation.id,
                change_seq=n,
                first_seq=n,
                last_seq=n,
            )
            for n in (1, 2)
        ]
    )
    assert len(set(MessageBatch.objects.values_list("id", flat=True))) == 2


def test_nothing_to_insert_runs_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        bulk_insert.insert([])
