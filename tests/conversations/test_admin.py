import pytest
from django.urls import reverse

from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def long_conversation(user):
    conversation = services.create_conversation(user=user, title="Very long")
    Message.objects.bulk_create(
        Message(conversation=conversation, seq=n, role="user", content=f"message number {n}")
        for n in range(1, 50_001)
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
