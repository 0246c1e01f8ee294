import pytest
from django.db import connection
from django.urls import reverse

from conversations import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_conversation(user):
    conversation = services.create_conversation(user=user, title="Very long")
    with connection.cursor() as cursor:  # one statement: 50,000 ORM objects take seconds
        cursor.execute(
            "INSERT INTO conversations_message"
            " (id, conversation_id, owner_id, seq, role, content, attachments, metadata,"
            " created_at) SELECT gen_random_uuid(), %s, %s, g, 'user', 'message number ' || g,"
            " '[]', '{}', now()"
            " FROM generate_series(1, 50000) AS g",
            [conversation.id, user.id],
        )
    conversation.message_count = 50_000
    conversation.save(update_fields=["message_count"])
    return conversation


def test_admin_change_page_shows_a_bounded_read_only_slice(
    admin_client, long_conversation, django_assert_max_num_queries
):
    url = reverse("admin:conversations_conversation_change", args=[long_conversation.pk])
    with django_assert_max_num_queries(12):
        response = admin_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "message number 50000" in body
    assert "message number 49951" in body
    assert "message number 49950<" not in body
    assert "All 50000 messages" in body


def test_admin_message_list_is_paginated(admin_client, long_conversation):
    url = reverse("admin:conversations_message_changelist")
    response = admin_client.get(url, {"conversation__id__exact": str(long_conversation.pk)})
    assert response.status_code == 200
    assert response.content.decode().count("message number ") == 100


def test_admin_searches_conversations_by_title_and_owner(admin_client, user):
    services.create_conversation(user=user, title="Findable title")
    url = reverse("admin:conversations_conversation_changelist")
    assert "Findable title" in admin_client.get(url, {"q": "findable"}).content.decode()
    assert "Findable title" in admin_client.get(url, {"q": user.username}).content.decode()


def test_admin_cannot_edit_messages(admin_client, long_conversation):
    message = long_conversation.messages.get(seq=1)
    url = reverse("admin:conversations_message_change", args=[message.pk])
    admin_client.post(url, {"content": "rewritten"})
    message.refresh_from_db()
    assert message.content == "message number 1"
