"""POST /api/v1/import/ with each real export format (tests/fixtures/imports/, written from
the formats' public descriptions and real exports' shapes): branches, parts, hidden nodes,
missing titles and null times, and a second import that creates nothing."""

from datetime import UTC, datetime

import pytest

from conversations.models import Conversation, Message
from tests.factories import UserFactory
from tests.importing import fixture_bytes, upload

pytestmark = pytest.mark.django_db


def imported(user, source: str, source_id: str) -> Conversation:
    return Conversation.objects.get(owner=user, import_source=source, import_id=source_id)


def messages_of(conversation: Conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation).order_by("seq"))


def current_branch(conversation: Conversation) -> list[str]:
    by_id = {m.id: m for m in messages_of(conversation)}
    branch, at = [], by_id.get(conversation.current_message_id)
    while at is not None:
        branch.append(at.content)
        at = by_id.get(at.parent_id)
    return branch[::-1]


def test_chatgpt_export_keeps_branches_times_titles_and_skips_hidden_nodes(api, user):
    response = upload(api, fixture_bytes("chatgpt_conversations.json"), "conversations.json")

    assert response.status_code == 201, response.content
    assert response.json() == {"created": 2, "updated": 0, "skipped": 0, "errors": []}
    lisbon = imported(user, "chatgpt", "6630a1b2-0000-4000-8000-00000000c001")
    assert lisbon.title == "Trip to Lisbon"
    assert lisbon.title_set_by_user
    assert lisbon.created_at == datetime.fromtimestamp(1714550400.123, tz=UTC)
    messages = messages_of(lisbon)
    # The empty root, the hidden system message, the custom instructions, the tool call
    # and its output are not shown in ChatGPT and are not imported.
    assert [(m.role, m.content[:20]) for m in messages] == [
        ("user", "Plan three days in L"),
        ("assistant", "Day 1: Alfama. Day 2"),
        ("user", "Plan four days in Li"),
        ("assistant", "Four days: Alfama, B"),
        ("assistant", "Take the CP train to"),
    ]
    first, reply, edited, regenerated, final = messages
    # The edited prompt is a second version of the first message; the answer after the
    # tool call hangs under the prompt, next to the other answer.
    assert first.parent_id is None
    assert edited.parent_id is None
    assert reply.parent_id == first.id
    assert regenerated.parent_id == edited.id
    assert final.parent_id == edited.id
    assert (
        final.content == "Take the CP train to Sintra from Rossio.\n\nIt leaves every 20 minutes."
    )
    assert final.created_at == datetime.fromtimestamp(1714551110, tz=UTC)
    assert final.metadata == {"model": "gpt-4o"}
    assert lisbon.current_message_id == final.id
    assert lisbon.message_count == 5
    # Its place among the user's chats is its last message's time, not the import's.
    assert lisbon.last_activity_at == datetime.fromtimestamp(1714551110, tz=UTC)


def test_chatgpt_missing_title_multimodal_parts_and_null_create_time(api, user):
    upload(api, fixture_bytes("chatgpt_conversations.json"))

    untitled = imported(user, "chatgpt", "6630a1b2-0000-4000-8000-00000000c002")
    assert untitled.title == ""
    assert not untitled.title_set_by_user
    question, answer, follow_up = messages_of(untitled)
    assert question.content == "[image]\n\nWhat is in this picture?"
    # A null create_time takes its parent's time: a branch's times never go backwards.
    assert answer.created_at == question.created_at == datetime.fromtimestamp(1714640010, tz=UTC)
    # The reasoning node between the two answers is skipped; the second follows the first.
    assert follow_up.parent_id == answer.id
    assert follow_up.content == "It is a tabby."


def test_a_second_import_of_the_same_file_creates_nothing(api, user):
    data = fixture_bytes("chatgpt_conversations.json")
    upload(api, data)
    before = Message.objects.filter(owner=user).count()

    again = upload(api, data)

    assert again.status_code == 201
    assert again.json() == {"created": 0, "updated": 0, "skipped": 2, "errors": []}
    assert Conversation.objects.filter(owner=user).count() == 2
    assert Message.objects.filter(owner=user).count() == before


def test_the_keys_are_per_owner(api, user, token_for):
    from rest_framework.test import APIClient

    upload(api, fixture_bytes("claude_conversations.json"))
    other = APIClient()
    other_user = UserFactory()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(other_user)}")

    response = upload(other, fixture_bytes("claude_conversations.json"))

    assert response.json()["created"] == 2
    assert Conversation.objects.filter(owner=other_user).count() == 2


def test_claude_export_content_blocks_attachments_and_branches(api, user):
    response = upload(api, fixture_bytes("claude_conversations.json"))

    assert response.json() == {"created": 2, "updated": 0, "skipped": 0, "errors": []}
    starter = imported(user, "claude", "2f1c0a4e-1111-4aaa-9bbb-000000000001")
    assert starter.title == "Sourdough starter"
    messages = messages_of(starter)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    # Text blocks joined; thinking and tool blocks left out.
    assert messages[1].content == (
        "Feed it daily with equal weights of flour and water.\n\nKeep it at room temperature."
    )
    # No content blocks: the message's text.
    assert messages[2].content == "What about the fridge?"
    assert messages[2].metadata == {"attachments": ["notes.txt"]}
    assert [m.parent_id for m in messages[1:]] == [m.id for m in messages[:-1]]
    assert messages[0].created_at == datetime(2024, 5, 1, 9, 0, 1, tzinfo=UTC)

    primes = imported(user, "claude", "2f1c0a4e-1111-4aaa-9bbb-000000000002")
    assert primes.title == ""
    _ask, seven, bigger, even = messages_of(primes)
    assert bigger.parent_id == seven.id
    assert even.parent_id == seven.id
    assert current_branch(primes) == ["Name a prime.", "7", "An even one."]


def test_open_webui_export_history_tree_and_plain_message_list(api, user):
    response = upload(api, fixture_bytes("openwebui_export.json"))

    assert response.json() == {"created": 2, "updated": 0, "skipped": 0, "errors": []}
    haiku = imported(user, "openwebui", "7d3e5c1a-2222-4ccc-8ddd-000000000001")
    prompt, first, second, thanks = messages_of(haiku)
    assert haiku.title == "Rain haiku"
    assert first.parent_id == prompt.id
    assert second.parent_id == prompt.id
    assert thanks.parent_id == second.id
    assert haiku.current_message_id == thanks.id
    assert first.metadata == {"model": "llama3.1:8b"}
    assert prompt.created_at == datetime.fromtimestamp(1717236000, tz=UTC)
    assert haiku.created_at == datetime.fromtimestamp(1717236000, tz=UTC)

    ping = imported(user, "openwebui", "7d3e5c1a-2222-4ccc-8ddd-000000000002")
    assert ping.title == "New Chat"
    assert current_branch(ping) == ["ping", "pong"]


def test_a_chatgpt_export_zip_is_read_through_its_conversations_json(api, user):
    from tests.importing import zip_of

    data = zip_of(
        {
            "conversations.json": fixture_bytes("chatgpt_conversations.json"),
            "chat.html": "<html></html>",
            "user.json": "{}",
        }
    )

    response = upload(api, data, "chatgpt-export.zip")

    assert response.status_code == 201
    assert response.json()["created"] == 2


def test_importing_needs_a_signed_in_user(client):
    from tests.importing import IMPORT

    assert client.post(IMPORT).status_code in (401, 403)
