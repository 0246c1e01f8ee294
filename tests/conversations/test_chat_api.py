"""POST /api/v1/chat/ and GET /api/v1/conversations/{id}/context/, as API.md has them."""

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator

from conversations import llm, services
from conversations.api import urls as api_urls
from conversations.models import Conversation, Message
from tests.fake_anthropic import Fail, Reply, Stream

CHAT = "/api/v1/chat/"


def context_url(conversation_id):
    return f"/api/v1/conversations/{conversation_id}/context/"


def post(api, body, **extra):
    return api.post(CHAT, body, format="json", **extra)


def sse_events(response) -> list[tuple[str, dict]]:
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


# --- POST /api/v1/chat/ ---------------------------------------------------------------


def test_chat_answers_201_with_the_conversation_and_both_messages(api, offline):
    response = post(api, {"message": "Hello"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"conversation", "user_message", "assistant_message"}
    assert (body["user_message"]["role"], body["user_message"]["content"]) == ("user", "Hello")
    assert body["assistant_message"]["role"] == "assistant"


def test_chat_objects_are_the_api_md_conversation_and_messages(api, offline):
    body = post(api, {"message": "Hello"}).json()

    # The same objects the conversation endpoint serves, field for field.
    stored = api.get(f"/api/v1/conversations/{body['conversation']['id']}/").json()
    stored_messages = stored.pop("messages")
    assert body["conversation"] == stored
    assert [body["user_message"], body["assistant_message"]] == stored_messages


def test_chat_without_a_conversation_id_makes_a_new_one(api, user, offline):
    body = post(api, {"message": "Hello"}).json()

    conversation = Conversation.objects.get(owner=user)
    assert body["conversation"]["id"] == str(conversation.id)
    assert body["conversation"]["message_count"] == 2


def test_chat_in_a_conversation_appends_to_it(api, conversation, offline):
    post(api, {"message": "One", "conversation_id": str(conversation.id)})
    body = post(api, {"message": "Two", "conversation_id": str(conversation.id)}).json()

    assert (body["user_message"]["seq"], body["assistant_message"]["seq"]) == (3, 4)


def test_offline_reply_is_labelled_offline(api, offline):
    body = post(api, {"message": "Hello"}).json()

    assert body["assistant_message"]["content"] == llm.OFFLINE_REPLY
    assert body["assistant_message"]["metadata"]["provider"] == "offline"


def test_chat_reply_comes_from_claude(api, claude):
    claude.answer(Reply("Hi, I am the fake.", input_tokens=30, output_tokens=6))

    body = post(api, {"message": "Who are you?"}).json()

    assert body["assistant_message"]["content"] == "Hi, I am the fake."
    assert body["assistant_message"]["metadata"]["usage"] == {
        "input_tokens": 30,
        "output_tokens": 6,
    }
    assert claude.requests[0].body["messages"] == [{"role": "user", "content": "Who are you?"}]


def test_model_failure_answers_502_with_the_stored_user_message(api, user, claude):
    claude.default = Fail(500)

    response = post(api, {"message": "Are you there?"})

    assert response.status_code == 502
    body = response.json()
    assert set(body) == {"detail", "code", "user_message"}
    assert body["code"] == "llm_unavailable"
    stored = Message.objects.get(conversation__owner=user)
    assert body["user_message"]["id"] == str(stored.id)
    assert stored.content == "Are you there?"


def test_repeated_client_id_stores_and_asks_nothing_twice(api, claude):
    body = {"message": "Once", "client_id": str(uuid.uuid4())}
    first = post(api, body)

    again = post(api, body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["assistant_message"]["id"] == first.json()["assistant_message"]["id"]
    assert Message.objects.count() == 2
    assert len(claude.requests) == 1


def test_stream_sends_deltas_then_done_with_the_201_object(api, claude):
    claude.answer(Stream(chunks=["Hel", "lo", "!"]))

    response = post(api, {"message": "Hi", "stream": True})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    assert events[:-1] == [
        ("delta", {"text": "Hel"}),
        ("delta", {"text": "lo"}),
        ("delta", {"text": "!"}),
    ]
    name, done = events[-1]
    assert name == "done"
    assert set(done) == {"conversation", "user_message", "assistant_message"}
    assert done["assistant_message"]["content"] == "Hello!"


def test_stream_accepts_an_event_stream_accept_header(api, offline):
    response = post(api, {"message": "Hi", "stream": True}, HTTP_ACCEPT="text/event-stream")

    events = sse_events(response)
    assert "".join(data["text"] for name, data in events if name == "delta") == llm.OFFLINE_REPLY
    assert events[-1][0] == "done"


def test_stream_that_cannot_start_answers_502(api, claude):
    claude.default = Fail(500)

    response = post(api, {"message": "Hi", "stream": True})

    assert response.status_code == 502
    assert response.json()["code"] == "llm_unavailable"


def test_stream_cut_short_ends_with_an_error_event(api, claude):
    claude.answer(Stream(chunks=["a", "b", "c"], fail_after=1))

    events = sse_events(post(api, {"message": "Hi", "stream": True}))

    assert events[0] == ("delta", {"text": "a"})
    name, error = events[-1]
    assert name == "error"
    assert error["code"] == "llm_unavailable"
    assert error["user_message"]["content"] == "Hi"


def queries_of(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries)


def grow(user, conversation, count):
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[services.NewMessage(role="user", content=f"m{n}") for n in range(count)],
    )


def test_chat_runs_the_same_queries_however_long_the_conversation(api, user, offline):
    short, long = (services.create_conversation(user=user) for _ in range(2))
    grow(user, short, 2)
    grow(user, long, 300)

    counts = {
        queries_of(lambda c=c: post(api, {"message": "Hi", "conversation_id": str(c.id)}))
        for c in (short, long)
    }

    assert len(counts) == 1


def test_context_runs_the_same_queries_however_long_the_conversation(api, user):
    short, long = (services.create_conversation(user=user) for _ in range(2))
    grow(user, short, 2)
    grow(user, long, 300)

    counts = {queries_of(lambda c=c: api.get(context_url(c.id))) for c in (short, long)}

    assert len(counts) == 1


def test_chat_works_with_the_browser_session(session_api, offline):
    assert post(session_api, {"message": "Hi"}).status_code == 201


# --- POST /api/v1/chat/: every error path ---------------------------------------------


def test_malformed_json_is_400_with_a_detail(api):
    response = api.post(CHAT, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_missing_message_is_400(api):
    response = post(api, {})

    assert response.status_code == 400
    assert "message" in response.json()


def test_blank_message_is_400_and_stores_nothing(api, offline):
    response = post(api, {"message": "   "})

    assert response.status_code == 400
    assert "message" in response.json()
    assert not Message.objects.exists()


def test_over_long_message_is_400(api, offline, settings):
    response = post(api, {"message": "x" * (settings.NUMINA_CONTENT_MAX_LENGTH + 1)})

    assert response.status_code == 400
    assert response.json()["message"] == [
        f"Ensure this field has no more than {settings.NUMINA_CONTENT_MAX_LENGTH} characters."
    ]


def test_message_of_the_wrong_type_is_400(api):
    assert post(api, {"message": {"text": "hi"}}).status_code == 400


def test_malformed_conversation_id_is_400(api):
    response = post(api, {"message": "Hi", "conversation_id": "nope"})

    assert response.status_code == 400
    assert "conversation_id" in response.json()


def test_malformed_client_id_is_400(api):
    assert post(api, {"message": "Hi", "client_id": "nope"}).status_code == 400


def test_unknown_conversation_is_404(api, offline):
    response = post(api, {"message": "Hi", "conversation_id": str(uuid.uuid4())})

    assert response.status_code == 404


def test_another_users_conversation_is_404_and_untouched(api, other_user, offline):
    theirs = services.create_conversation(user=other_user)

    response = post(api, {"message": "Hi", "conversation_id": str(theirs.id)})

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert not Message.objects.exists()


def test_chat_is_throttled_per_user(api, offline, settings):
    settings.NUMINA_THROTTLE_CHAT = "2/min"

    answers = [post(api, {"message": f"m{n}"}).status_code for n in range(3)]

    assert answers == [201, 201, 429]


def test_throttled_chat_says_when_to_retry(api, offline, settings):
    settings.NUMINA_THROTTLE_CHAT = "1/min"
    post(api, {"message": "first"})

    response = post(api, {"message": "second"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_chat_needs_credentials(anon_api):
    assert post(anon_api, {"message": "Hi"}).status_code == 401


def test_chat_is_post_only(api):
    assert api.get(CHAT).status_code == 405


# --- GET /api/v1/conversations/{id}/context/ ------------------------------------------


def test_context_shows_what_the_next_call_sends(api, user, conversation):
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")

    response = api.get(context_url(conversation.id))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "system",
        "messages",
        "summary",
        "instructions",
        "total_messages",
        "summarized",
        "summarized_messages",
        "estimated_tokens",
        "cached",
        "memory",
    }
    assert body["messages"] == [{"role": "user", "content": "Hi"}]
    assert body["instructions"] == ""
    assert body["memory"] == []  # nothing kept about the user yet
    # `is`, not ==: 0 == False, and the contract says a boolean.
    assert body["summarized"] is False
    assert (body["total_messages"], body["summarized_messages"]) == (1, 0)
    assert body["cached"] is False


def test_context_is_cached_on_the_second_read(api, user, conversation):
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")
    api.get(context_url(conversation.id))

    assert api.get(context_url(conversation.id)).json()["cached"] is True


def test_context_says_hit_or_miss_in_x_cache(api, user, conversation):
    first = api.get(context_url(conversation.id))
    second = api.get(context_url(conversation.id))

    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")


def test_a_new_summary_makes_the_cached_context_stale(api, user, offline, settings):
    settings.NUMINA_SUMMARY_THRESHOLD = 2
    settings.NUMINA_CONTEXT_RECENT_MESSAGES = 2
    conversation = services.create_conversation(user=user)
    grow(user, conversation, 6)
    api.get(context_url(conversation.id))

    services.summarize_conversation(user=user, conversation_id=conversation.id)
    body = api.get(context_url(conversation.id)).json()

    assert body["cached"] is False
    assert body["summarized"] is True
    assert (body["summarized_messages"], len(body["messages"])) == (4, 1)
    assert body["summary"]
    assert body["summary"] in body["system"]


def test_context_honours_the_budget(api, user, conversation):
    for n in range(40):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"{n} " + "w" * 400
        )

    small = api.get(context_url(conversation.id), {"budget": 200}).json()
    large = api.get(context_url(conversation.id), {"budget": 20000}).json()

    assert len(small["messages"][0]["content"]) < len(large["messages"][0]["content"])
    assert small["estimated_tokens"] < large["estimated_tokens"]


def test_requesting_many_budgets_does_not_create_many_cache_entries(api, conversation):
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    for budget in range(100, 150):
        assert api.get(context_url(conversation.id), {"budget": budget}).status_code == 200
    assert api.get(context_url(conversation.id)).json()["cached"] is False
    assert api.get(context_url(conversation.id)).json()["cached"] is True
    assert len(redis.keys("*:context:*")) == 1


@pytest.mark.parametrize("budget", ["0", "99", "100001", "many", "1.5"])
def test_context_budget_out_of_range_is_400(api, conversation, budget):
    response = api.get(context_url(conversation.id), {"budget": budget})

    assert response.status_code == 400
    assert "budget" in response.json()


@pytest.mark.parametrize("conversation_id", ["not-a-uuid", "6f1c2e0a-4b7d-4c1e-9a57-3d2b8e9f0a11"])
def test_context_of_an_unknown_conversation_is_404(api, conversation_id):
    assert api.get(context_url(conversation_id)).status_code == 404


def test_context_of_another_users_conversation_is_404(api, other_user):
    theirs = services.create_conversation(user=other_user)

    assert api.get(context_url(theirs.id)).status_code == 404


def test_schema_describes_chat_and_context():
    schema = SchemaGenerator(patterns=api_urls.urlpatterns).get_schema(request=None, public=True)

    chat = schema["paths"]["/chat/"]["post"]
    assert {"201", "502", "429"} <= set(chat["responses"])
    assert "/conversations/{conversation_id}/context/" in schema["paths"]


# --- streams that break or outlive their conversation ---------------------------------


def test_stream_broken_mid_chunk_ends_with_an_error_event(api, user, claude):
    # The connection to the model drops inside an HTTP chunk: httpx raises on its own,
    # outside the SDK's error types.
    claude.answer(Stream(chunks=["a", "b", "c"], break_after=1))

    events = sse_events(post(api, {"message": "Hi", "stream": True}))

    assert events[0] == ("delta", {"text": "a"})
    name, error = events[-1]
    assert (name, error["code"]) == ("error", "llm_unavailable")
    assert Message.objects.get(conversation__owner=user).content == "Hi"
