import uuid

import pytest

from conversations import services
from conversations.models import Message

pytestmark = pytest.mark.django_db


def messages_url(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/messages/"


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user, title="chat")


def test_post_message_returns_201_and_the_message(api, conversation):
    response = api.post(
        messages_url(conversation.id),
        {
            "role": "user",
            "content": "hi",
            "attachments": ["https://example.com/a.png"],
            "metadata": {"k": 1},
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["seq"] == 1
    assert body["conversation_id"] == str(conversation.id)
    assert body["attachments"] == ["https://example.com/a.png"]
    assert body["metadata"] == {"k": 1}
    assert body["client_id"] is None


def test_repeated_client_id_answers_200_with_the_stored_message(api, conversation):
    client_id = str(uuid.uuid4())
    first = api.post(
        messages_url(conversation.id),
        {"role": "user", "content": "once", "client_id": client_id},
        format="json",
    )
    again = api.post(
        messages_url(conversation.id),
        {"role": "user", "content": "once", "client_id": client_id},
        format="json",
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "user", "content": ""}, "content"),
        ({"role": "user", "content": "  \n "}, "content"),
        ({"role": "user", "content": "x" * 100_001}, "content"),
        ({"role": "user"}, "content"),
        ({"role": "robot", "content": "hi"}, "role"),
        ({"content": "hi"}, "role"),
        ({"role": "user", "content": "hi", "attachments": ["a"] * 21}, "attachments"),
        ({"role": "user", "content": "hi", "attachments": "a"}, "attachments"),
        ({"role": "user", "content": "hi", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"role": "user", "content": "hi", "metadata": {"k": "x" * 16_384}}, "metadata"),
        ({"role": "user", "content": "hi", "client_id": "not-a-uuid"}, "client_id"),
        ({"role": "user", "content": "nul \x00 inside"}, "content"),
    ],
)
def test_post_message_refuses_each_bound(api, conversation, body, field):
    response = api.post(messages_url(conversation.id), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Message.objects.exists()


def test_post_message_accepts_the_bounds_exactly(api, conversation):
    body = {
        "role": "assistant",
        "content": "x" * 100_000,
        "attachments": [f"id-{n}" for n in range(20)],
    }
    assert api.post(messages_url(conversation.id), body, format="json").status_code == 201


def test_fields_a_client_must_not_set_are_ignored(api, conversation):
    body = {
        "role": "user",
        "content": "hi",
        "seq": 99,
        "id": str(uuid.uuid4()),
        "created_at": "2001-01-01T00:00:00Z",
        "conversation_id": str(uuid.uuid4()),
    }
    stored = api.post(messages_url(conversation.id), body, format="json").json()
    assert stored["seq"] == 1
    assert stored["id"] != body["id"]
    assert not stored["created_at"].startswith("2001")
    assert stored["conversation_id"] == str(conversation.id)


def test_list_messages_ascending_after_seq_and_paginated(api, user, conversation):
    for n in range(30):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"m{n}"
        )
    body = api.get(messages_url(conversation.id), {"after_seq": 5, "page_size": 10}).json()
    assert [m["seq"] for m in body["results"]] == list(range(6, 16))
    seqs = []
    url = messages_url(conversation.id) + "?after_seq=5&page_size=10"
    while url:
        page = api.get(url).json()
        seqs += [m["seq"] for m in page["results"]]
        url = page["next"]
    assert seqs == list(range(6, 31))


@pytest.mark.parametrize("after_seq", ["-1", "abc", "99999999999"])
def test_list_messages_refuses_bad_after_seq(api, conversation, after_seq):
    response = api.get(messages_url(conversation.id), {"after_seq": after_seq})
    assert response.status_code == 400
    assert "after_seq" in response.json()


def test_list_messages_query_count_is_constant(api, user, conversation, django_assert_num_queries):
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="one")
    # token with its user, ownership, the page with its siblings (one query)
    with django_assert_num_queries(3):
        api.get(messages_url(conversation.id))
    for n in range(50):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"m{n}"
        )
    with django_assert_num_queries(3):
        api.get(messages_url(conversation.id))


def test_post_message_to_unknown_conversation_is_404(api):
    response = api.post(
        messages_url(uuid.uuid4()), {"role": "user", "content": "hi"}, format="json"
    )
    assert response.status_code == 404
