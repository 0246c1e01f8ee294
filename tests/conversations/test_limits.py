"""Every bound of API.md, enforced once in validation.py and reached through the services."""

import time

import pytest
from django.core.exceptions import ValidationError

from conversations import services, validation
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


def errors_of(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
def test_title_out_of_bounds_is_refused(user, conversation, title):
    errors = errors_of(
        lambda: services.rename_conversation(
            user=user, conversation_id=conversation.id, title=title
        )
    )
    assert "title" in errors
    conversation.refresh_from_db()
    assert conversation.title == ""


@pytest.mark.parametrize("title", ["x", "x" * 200, "  " + "y" * 200 + "  "])
def test_title_within_bounds_is_kept_trimmed(user, conversation, title):
    services.rename_conversation(user=user, conversation_id=conversation.id, title=title)
    conversation.refresh_from_db()
    assert conversation.title == title.strip()


def test_title_limit_is_a_setting(user, conversation, settings):
    settings.NUMINA_TITLE_MAX_LENGTH = 5
    assert "title" in errors_of(
        lambda: services.rename_conversation(
            user=user, conversation_id=conversation.id, title="123456"
        )
    )


def test_too_many_tags_are_refused(user):
    errors = errors_of(
        lambda: services.create_conversation(user=user, tags=[f"t{i}" for i in range(21)])
    )
    assert errors["tags"] == ["Ensure this field has no more than 20 elements."]
    assert not Conversation.objects.exists()


def test_a_100_kb_tag_list_is_refused_in_linear_time(api):
    # 12,500 distinct names: a list scan per name made this seconds, a 1 MB list minutes.
    tags = [f"t{n}" for n in range(12_500)]
    started = time.monotonic()
    response = api.post("/api/v1/conversations/", {"tags": tags}, format="json")
    assert time.monotonic() - started < 1.0
    assert response.status_code == 400
    assert response.json()["tags"] == ["Ensure this field has no more than 20 elements."]
    assert not Conversation.objects.exists()


def test_duplicate_tags_count_once_and_keep_their_order():
    assert validation.clean_tags(["b", " a", "b "] * 30) == ["b", "a"]


def test_twenty_tags_are_accepted(user):
    conversation = services.create_conversation(user=user, tags=[f"t{i}" for i in range(20)])
    assert conversation.tags.count() == 20


@pytest.mark.parametrize("tags", [["x" * 51], [""], ["  "], [3], "not-a-list"])
def test_bad_tags_are_refused(user, tags):
    assert "tags" in errors_of(lambda: services.create_conversation(user=user, tags=tags))


def test_tag_of_fifty_characters_is_accepted(user):
    assert services.create_conversation(user=user, tags=["x" * 50]).tags.get().name == "x" * 50


@pytest.mark.parametrize("content", ["", "   \n\t ", "x" * 100_001, None, "nul\x00byte"])
def test_bad_content_is_refused(user, conversation, content):
    errors = errors_of(
        lambda: services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=content
        )
    )
    assert "content" in errors
    assert not Message.objects.exists()


def test_content_of_exactly_the_limit_is_stored(user, conversation):
    added = services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="x" * 100_000
    )
    assert len(added.message.content) == 100_000


def test_over_long_content_message_names_the_limit(user, conversation):
    errors = errors_of(
        lambda: services.add_message(
            user=user, conversation_id=conversation.id, role="user", content="x" * 100_001
        )
    )
    assert errors["content"] == ["Ensure this field has no more than 100000 characters."]


@pytest.mark.parametrize("role", ["robot", "USER", "", None, "tool"])
def test_unknown_roles_are_refused(user, conversation, role):
    assert "role" in errors_of(
        lambda: services.add_message(
            user=user, conversation_id=conversation.id, role=role, content="hi"
        )
    )


@pytest.mark.parametrize("role", ["user", "assistant", "system"])
def test_known_roles_are_stored(user, conversation, role):
    assert (
        services.add_message(
            user=user, conversation_id=conversation.id, role=role, content="hi"
        ).message.role
        == role
    )


@pytest.mark.parametrize("attachments", [["a"] * 21, "not-a-list", [""], [1], ["x" * 2049]])
def test_bad_attachments_are_refused(user, conversation, attachments):
    errors = errors_of(
        lambda: services.add_message(
            user=user,
            conversation_id=conversation.id,
            role="user",
            content="hi",
            attachments=attachments,
        )
    )
    assert "attachments" in errors


def test_twenty_attachments_are_accepted(user, conversation):
    added = services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="hi",
        attachments=[f"file-{i}" for i in range(20)],
    )
    assert len(added.message.attachments) == 20


@pytest.mark.parametrize("metadata", [["list"], "text", {"big": "x" * 16_384}, {"nul": "\x00"}])
def test_bad_metadata_is_refused(user, conversation, metadata):
    errors = errors_of(
        lambda: services.add_message(
            user=user, conversation_id=conversation.id, role="user", content="hi", metadata=metadata
        )
    )
    assert "metadata" in errors


def test_metadata_just_under_16_kb_is_accepted(user, conversation):
    metadata = {"k": "x" * (16_384 - len('{"k": ""}'))}
    added = services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="hi", metadata=metadata
    )
    assert added.message.metadata == metadata


def test_malformed_client_id_is_refused(user, conversation):
    errors = errors_of(
        lambda: services.add_message(
            user=user, conversation_id=conversation.id, role="user", content="hi", client_id="nope"
        )
    )
    assert errors["client_id"] == ["Must be a valid UUID."]


def test_every_bad_field_is_reported_at_once(user, conversation):
    errors = errors_of(
        lambda: services.add_message(
            user=user, conversation_id=conversation.id, role="robot", content="", attachments="x"
        )
    )
    assert set(errors) == {"role", "content", "attachments"}
