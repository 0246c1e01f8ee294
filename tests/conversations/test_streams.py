"""Long responses per user: chat streams and exports are capped in Redis, given back when
they end or the client goes away, expire when a worker dies holding one, and are not
capped at all while Redis is down. Also: streams that break or outlive their chat."""

import json
import logging
import threading
import time

import httpx
import pytest
from django.core.cache import cache
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from conversations import services, streams
from conversations.models import Message
from tests.fake_anthropic import Gate, Stream

pytestmark = pytest.mark.django_db
CHAT = "/api/v1/chat/"


def held(user) -> int:
    return cache.client.get_client(write=True).zcard(streams.slots_key(user.pk))


@pytest.fixture
def cap(settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 2
    return 2


def export_url(conversation):
    return f"/api/v1/conversations/{conversation.id}/export/"


# --- the cap, with real concurrent streams ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_third_concurrent_chat_stream_is_429_too_many_streams(
    user, token_for, claude, cap, settings
):
    settings.ANTHROPIC_TIMEOUT = 20.0
    token = token_for(user)
    gates = [Gate(Stream(chunks=["a", "b"])) for _ in range(cap)]
    claude.answer(*gates)
    bodies = []

    def client() -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return api

    def stream_one():
        try:
            response = client().post(CHAT, {"message": "Hi", "stream": True}, format="json")
            bodies.append(b"".join(response.streaming_content).decode())
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=stream_one) for _ in range(cap)]
    for thread in threads:
        thread.start()
    for gate in gates:
        assert gate.entered.wait(10)

    refused = client().post(CHAT, {"message": "One too many", "stream": True}, format="json")

    for gate in gates:
        gate.release.set()
    for thread in threads:
        thread.join(20)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_streams"
    assert int(refused["Retry-After"]) > 0
    assert all("event: done" in body for body in bodies)
    assert not Message.objects.filter(content="One too many").exists()
    # Both streams ended and gave their slots back: the next one is let in.
    assert held(user) == 0
    claude.answer(Stream(chunks=["c"]))
    again = client().post(CHAT, {"message": "Now", "stream": True}, format="json")
    assert again.status_code == 200
    b"".join(again.streaming_content)


def test_open_exports_count_against_the_cap(api, user, settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    conversation = services.create_conversation(user=user)
    first = api.get(export_url(conversation))

    refused = api.get(export_url(conversation))

    assert first.status_code == 200
    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_streams")
    b"".join(first.streaming_content)  # the download ends: its slot is given back
    assert api.get(export_url(conversation)).status_code == 200


def test_browser_export_over_the_cap_is_429(client, user, settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    client.force_login(user)
    conversation = services.create_conversation(user=user)
    first = client.get(reverse("export", args=[conversation.id]))

    refused = client.get(reverse("export", args=[conversation.id]))

    assert first.status_code == 200
    assert refused.status_code == 429
    assert refused["Retry-After"]
    b"".join(first.streaming_content)


def test_composer_stream_over_the_cap_is_a_json_429_and_stores_nothing(
    client, user, offline, settings
):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    client.force_login(user)
    conversation = services.create_conversation(user=user)
    open_download = client.get(reverse("export", args=[conversation.id]))

    response = client.post(
        reverse("send", args=[conversation.id]), {"content": "Hi"}, HTTP_X_NUMINA_STREAM="1"
    )

    assert response.status_code == 429
    assert response.json()["errors"]
    assert not Message.objects.exists()
    b"".join(open_download.streaming_content)


def test_stream_that_cannot_start_gives_its_slot_back(api, user, claude, cap):
    from tests.fake_anthropic import Fail

    claude.default = Fail(400)

    assert api.post(CHAT, {"message": "Hi", "stream": True}, format="json").status_code == 502
    assert held(user) == 0


def test_a_slot_left_by_a_crashed_worker_expires(user, settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    settings.NUMINA_STREAM_SLOT_TTL = 1
    streams.acquire_stream_slot(user=user)  # never released: its worker died
    with pytest.raises(streams.TooManyStreams):
        streams.acquire_stream_slot(user=user)

    time.sleep(1.1)

    streams.acquire_stream_slot(user=user).release()


def test_streams_are_not_capped_while_redis_is_down(api, user, offline, settings, caplog):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.1, "SOCKET_TIMEOUT": 0.1},
        }
    }
    caplog.set_level(logging.WARNING, logger="conversations.streams")

    responses = [api.post(CHAT, {"message": "Hi", "stream": True}, format="json") for _ in "ab"]

    assert [response.status_code for response in responses] == [200, 200]
    assert "stream cap not applied" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_slot_is_given_back_when_the_client_disconnects(live_server, user, token_for, claude, cap):
    claude.answer(Stream(chunks=["x"] * 200, pause=0.02))
    headers = {"Authorization": f"Bearer {token_for(user)}"}

    with httpx.stream(
        "POST", f"{live_server.url}{CHAT}", json={"message": "Hi", "stream": True}, headers=headers
    ) as response:
        assert response.status_code == 200
        next(response.iter_lines())
        assert held(user) == 1
    # The client hung up mid-reply; the server notices at its next write.

    deadline = time.monotonic() + 10
    while held(user) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held(user) == 0


# --- streams that break or outlive their conversation -----------------------------------


def sse(chunks) -> list[tuple[str, dict]]:
    events = []
    for block in b"".join(chunks).decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_conversation_deleted_while_its_reply_streams_ends_with_an_error_event(api, user, claude):
    conversation = services.create_conversation(user=user)
    claude.answer(Stream(chunks=["a", "b", "c"]))
    response = api.post(
        CHAT,
        {"message": "Hi", "stream": True, "conversation_id": str(conversation.id)},
        format="json",
    )
    chunks = iter(response.streaming_content)
    first = next(chunks)  # the reply has begun

    services.delete_conversation(user=user, conversation_id=conversation.id)

    events = sse([first, *chunks])
    name, error = events[-1]
    assert (name, error["code"]) == ("error", "conversation_deleted")
    assert error["user_message"]["content"] == "Hi"
    # No reply stored; the user's message waits in the trash with its conversation.
    assert list(Message.objects.values_list("role", flat=True)) == ["user"]


def test_composer_stream_of_a_chat_deleted_meanwhile_ends_with_an_error_line(client, user, claude):
    client.force_login(user)
    conversation = services.create_conversation(user=user)
    claude.answer(Stream(chunks=["a", "b", "c"]))
    response = client.post(
        reverse("send", args=[conversation.id]), {"content": "Hi"}, HTTP_X_NUMINA_STREAM="1"
    )
    chunks = iter(response.streaming_content)
    first = next(chunks)

    services.delete_conversation(user=user, conversation_id=conversation.id)

    lines = [json.loads(line) for line in b"".join([first, *chunks]).splitlines()]
    assert lines[-1]["type"] == "error"
    assert "deleted" in lines[-1]["message"]


def test_composer_stream_broken_mid_chunk_ends_with_an_error_line(client, user, claude):
    client.force_login(user)
    conversation = services.create_conversation(user=user)
    claude.answer(Stream(chunks=["a", "b", "c"], break_after=1))

    response = client.post(
        reverse("send", args=[conversation.id]), {"content": "Keep me"}, HTTP_X_NUMINA_STREAM="1"
    )

    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert lines[0] == {"type": "delta", "text": "a"}
    assert lines[-1]["type"] == "error"
    assert "Keep me" in lines[-1]["html"]
    assert Message.objects.get(conversation=conversation).content == "Keep me"
