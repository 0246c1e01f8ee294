"""The chat service: the user's message first, then the model, then the reply."""

import uuid

import pytest
from django.core.exceptions import ValidationError

from conversations import llm, services
from conversations.models import Conversation, Message
from conversations.services import AssistantUnavailable, ChatResult, TextDelta
from tests.fake_anthropic import Fail, Reply, Stream


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


def test_chat_stores_the_user_message_and_the_reply(user, conversation, offline):
    result = services.chat(user=user, conversation_id=conversation.id, message="Hello?")

    assert [(m.seq, m.role) for m in Message.objects.filter(conversation=conversation)] == [
        (1, "user"),
        (2, "assistant"),
    ]
    assert result.user_message.content == "Hello?"
    assert result.conversation.message_count == 2


def test_offline_reply_is_marked_offline(user, conversation, offline):
    result = services.chat(user=user, conversation_id=conversation.id, message="Hello?")

    assert result.assistant_message.content == llm.OFFLINE_REPLY
    assert result.assistant_message.metadata["provider"] == "offline"


def test_chat_without_a_conversation_makes_one(user, offline):
    result = services.chat(user=user, message="Start something new")

    assert Conversation.objects.filter(owner=user).count() == 1
    assert result.conversation.message_count == 2


def test_chat_sends_the_built_context_to_the_model(user, conversation, claude):
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")
    services.add_message(
        user=user, conversation_id=conversation.id, role="assistant", content="Hello"
    )

    services.chat(user=user, conversation_id=conversation.id, message="What is 2+2?")

    body = claude.requests[0].body
    assert body["model"] == "claude-test-model"
    assert body["max_tokens"] == 321
    assert body["system"].startswith("You are Claude")
    assert body["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "What is 2+2?"},
    ]


def test_reply_stores_token_usage(user, conversation, claude):
    claude.answer(Reply("Four.", input_tokens=52, output_tokens=3))

    result = services.chat(user=user, conversation_id=conversation.id, message="2+2?")

    reply = Message.objects.get(pk=result.assistant_message.pk)
    assert reply.content == "Four."
    assert reply.token_count == 3
    assert reply.metadata["usage"] == {"input_tokens": 52, "output_tokens": 3}
    assert reply.metadata["provider"] == "anthropic"
    assert reply.metadata["in_reply_to"] == str(result.user_message.id)


def test_repeated_client_id_does_not_ask_the_model_twice(user, conversation, claude):
    client_id = uuid.uuid4()
    first = services.chat(
        user=user, conversation_id=conversation.id, message="Hi", client_id=client_id
    )

    again = services.chat(
        user=user, conversation_id=conversation.id, message="Hi", client_id=client_id
    )

    assert len(claude.requests) == 1
    assert again.created is False
    assert again.assistant_message.pk == first.assistant_message.pk
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_repeated_first_send_without_a_conversation_reuses_it(user, claude):
    client_id = uuid.uuid4()
    first = services.chat(user=user, message="Hi", client_id=client_id)

    again = services.chat(user=user, message="Hi", client_id=client_id)

    assert again.conversation.pk == first.conversation.pk
    assert Conversation.objects.filter(owner=user).count() == 1
    assert len(claude.requests) == 1


def test_model_failure_keeps_the_user_message(user, conversation, claude):
    claude.default = Fail(500)

    with pytest.raises(AssistantUnavailable) as raised:
        services.chat(user=user, conversation_id=conversation.id, message="Still there?")

    assert raised.value.user_message.content == "Still there?"
    assert list(Message.objects.filter(conversation=conversation).values_list("role")) == [
        ("user",)
    ]


def test_bad_request_from_the_model_is_unavailable_without_retry(user, conversation, claude):
    claude.default = Fail(400)

    with pytest.raises(AssistantUnavailable):
        services.chat(user=user, conversation_id=conversation.id, message="Hi")

    assert len(claude.requests) == 1


def test_retry_after_a_failure_asks_the_model_again(user, conversation, claude):
    client_id = uuid.uuid4()
    claude.answer(Fail(400))
    with pytest.raises(AssistantUnavailable):
        services.chat(user=user, conversation_id=conversation.id, message="Hi", client_id=client_id)

    result = services.chat(
        user=user, conversation_id=conversation.id, message="Hi", client_id=client_id
    )

    assert result.assistant_message.seq == 2
    assert Message.objects.filter(conversation=conversation, role="user").count() == 1


def test_empty_reply_from_the_model_is_unavailable(user, conversation, claude):
    claude.answer(Reply("   "))

    with pytest.raises(AssistantUnavailable):
        services.chat(user=user, conversation_id=conversation.id, message="Hi")


def test_blank_message_is_refused_under_its_field_name(user, conversation, offline):
    with pytest.raises(ValidationError) as raised:
        services.chat(user=user, conversation_id=conversation.id, message="   ")

    assert "message" in raised.value.message_dict
    assert not Message.objects.exists()


def test_over_long_message_is_refused(user, conversation, offline, settings):
    settings.NUMINA_CONTENT_MAX_LENGTH = 10

    with pytest.raises(ValidationError) as raised:
        services.chat(user=user, conversation_id=conversation.id, message="x" * 11)

    assert "message" in raised.value.message_dict


def test_malformed_client_id_is_refused(user, conversation, offline):
    with pytest.raises(ValidationError) as raised:
        services.chat(user=user, conversation_id=conversation.id, message="Hi", client_id="nope")

    assert "client_id" in raised.value.message_dict


def test_another_users_conversation_does_not_exist(other_user, conversation, offline):
    with pytest.raises(Conversation.DoesNotExist):
        services.chat(user=other_user, conversation_id=conversation.id, message="Hi")

    assert not Message.objects.exists()


def test_malformed_conversation_id_does_not_exist(user, offline):
    with pytest.raises(Conversation.DoesNotExist):
        services.chat(user=user, conversation_id="not-a-uuid", message="Hi")


def test_stream_chat_yields_deltas_then_the_result(user, conversation, claude):
    claude.answer(Stream(chunks=["Hi ", "there", "!"], output_tokens=3))

    events = list(services.stream_chat(user=user, conversation_id=conversation.id, message="Yo"))

    assert events[:-1] == [TextDelta("Hi "), TextDelta("there"), TextDelta("!")]
    result = events[-1]
    assert isinstance(result, ChatResult)
    assert result.assistant_message.content == "Hi there!"
    assert Message.objects.get(pk=result.assistant_message.pk).token_count == 3


def test_stream_chat_cut_short_keeps_the_user_message(user, conversation, claude):
    claude.answer(Stream(chunks=["a", "b"], fail_after=1))
    events = services.stream_chat(user=user, conversation_id=conversation.id, message="Yo")

    with pytest.raises(AssistantUnavailable):
        list(events)

    assert list(Message.objects.filter(conversation=conversation).values_list("role")) == [
        ("user",)
    ]


def test_stream_chat_repeated_client_id_replays_the_stored_reply(user, conversation, claude):
    client_id = uuid.uuid4()
    first = services.chat(
        user=user, conversation_id=conversation.id, message="Hi", client_id=client_id
    )

    events = list(
        services.stream_chat(
            user=user, conversation_id=conversation.id, message="Hi", client_id=client_id
        )
    )

    assert events[0] == TextDelta(first.assistant_message.content)
    assert events[-1].created is False
    assert len(claude.requests) == 1


def test_first_reply_asks_for_a_title_after_commit(
    user, conversation, offline, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.chat(user=user, conversation_id=conversation.id, message="Hi")

    assert enqueued == ["conversations.tasks.generate_title", "memory.tasks.extract_memory"]


def test_no_title_is_asked_for_when_the_user_named_the_chat(
    user, offline, enqueued, django_capture_on_commit_callbacks
):
    conversation = services.create_conversation(user=user, title="Mine")

    with django_capture_on_commit_callbacks(execute=True):
        services.chat(user=user, conversation_id=conversation.id, message="Hi")

    assert enqueued == ["memory.tasks.extract_memory"]


def test_a_long_backlog_asks_for_a_summary_after_commit(
    user, conversation, offline, enqueued, settings, django_capture_on_commit_callbacks
):
    settings.NUMINA_SUMMARY_THRESHOLD = 3
    settings.NUMINA_CONTEXT_RECENT_MESSAGES = 2
    services.rename_conversation(user=user, conversation_id=conversation.id, title="Named")
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[services.NewMessage(role="user", content=f"m{n}") for n in range(3)],
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.chat(user=user, conversation_id=conversation.id, message="Hi")

    assert enqueued == ["conversations.tasks.summarize_conversation", "memory.tasks.extract_memory"]
