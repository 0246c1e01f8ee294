"""Issue 19, tail latency: a server process runs quick requests and those that wait long
(the model's replies, downloads, uploads) in two thread pools (numina/pools.py), so a
chat held at the model never holds a thread a list needs."""

import threading
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from a2wsgi import WSGIMiddleware
from django.urls import reverse

from numina import pools
from tests.fake_anthropic import Gate, Reply

ID = uuid.uuid4()

WAITING = [
    reverse("api-chat"),
    reverse("api-chat-regenerate"),
    reverse("api-export"),
    reverse("api-conversation-export", args=[ID]),
    reverse("api-conversation-import"),
    reverse("api-import"),
    reverse("api-files"),
    reverse("api-file", args=[ID]),
    reverse("send_new"),
    reverse("send", args=[ID]),
    reverse("edit_message", args=[ID, ID]),
    reverse("regenerate", args=[ID, ID]),
    reverse("export", args=[ID]),
    reverse("file", args=[ID]),
    reverse("import_chats"),
]
QUICK = [
    reverse("api-conversations"),
    reverse("api-conversation", args=[ID]),
    reverse("api-conversation-messages", args=[ID]),
    reverse("api-conversation-context", args=[ID]),
    reverse("api-sync"),
    reverse("api-search"),
    reverse("api-batch"),
    reverse("home"),
    reverse("chat", args=[ID]),
    reverse("chat_list"),
    "/no/such/page/",
    "/api/v1/conversations/not-a-uuid/",
]


@pytest.mark.parametrize("path", WAITING)
def test_the_views_that_wait_long_go_to_the_waiting_pool(path):
    assert pools.waits_long(path)


@pytest.mark.parametrize("path", QUICK)
def test_every_other_path_goes_to_the_quick_pool(path):
    assert not pools.waits_long(path)


@pytest.fixture
def one_quick_thread(asgi_server, monkeypatch):
    """The served process with a single quick thread: any request that held it would make
    every quick request wait."""
    # Imported here, as the server imports it, not when the tests are collected: importing
    # the web's entry point sets the statement timeout on every connection opened after.
    import numina.asgi

    monkeypatch.setattr(
        numina.asgi, "quick", WSGIMiddleware(numina.asgi.wsgi_application, workers=1)
    )


@dataclass
class HeldChat:
    token: str
    gate: Gate
    thread: threading.Thread
    answers: list = field(default_factory=list)  # the chat's response, once answered

    def release(self) -> httpx.Response:
        self.gate.release.set()
        self.thread.join(20)
        return self.answers[0]


@pytest.fixture
def held_chat(asgi_server, user, token_for, claude, settings, one_quick_thread):
    """A chat request sent to the served process (one quick thread) and held at the fake
    model until ``release()`` or the end of the test."""
    settings.ANTHROPIC_TIMEOUT = 20.0
    token = token_for(user)
    gate = Gate(Reply("At last"))
    claude.answer(gate)
    answers: list = []

    def chat() -> None:
        with httpx.Client(base_url=asgi_server.url, timeout=30) as phone:
            answers.append(
                phone.post(
                    "/api/v1/chat/",
                    json={"message": "Take your time"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            )

    held = HeldChat(token=token, gate=gate, thread=threading.Thread(target=chat), answers=answers)
    held.thread.start()
    try:
        assert gate.entered.wait(10), "the chat never reached the model"
        yield held
    finally:
        gate.release.set()
        held.thread.join(20)


def _list(*, server, token: str, timeout: float) -> httpx.Response:
    return httpx.get(
        f"{server.url}/api/v1/conversations/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


@pytest.mark.django_db(transaction=True)
def test_a_list_is_answered_while_a_chat_waits_on_the_model(asgi_server, held_chat):
    listed = _list(server=asgi_server, token=held_chat.token, timeout=5)

    assert listed.status_code == 200
    assert not held_chat.answers, "the chat should still be waiting on the model"
    replied = held_chat.release()
    assert replied.status_code == 201, replied.text
    assert replied.json()["assistant_message"]["content"] == "At last"


@pytest.fixture
def one_pool_for_all(monkeypatch):
    monkeypatch.setattr(pools, "waits_long", lambda path: False)


@pytest.mark.django_db(transaction=True)
def test_without_the_waiting_pool_the_list_would_wait_for_the_chat(
    asgi_server, one_pool_for_all, held_chat
):
    # The claim above can fail: with every request in the one quick thread, the list
    # waits for the model's reply.
    with pytest.raises(httpx.ReadTimeout):
        _list(server=asgi_server, token=held_chat.token, timeout=1.5)
