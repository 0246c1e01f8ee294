"""The browser UI on the same cache as the API: the chat page's newest messages come from
Redis, and writes made through the UI make both the page and the API fresh.

Transactional: writes commit, so invalidation runs after commit as in production."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.services import issue_token
from conversations import cache as numina_cache
from conversations import services, views
from conversations.models import Message
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def browser(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def conversation(owner):
    conversation = services.create_conversation(user=owner, title="Cached page")
    services.add_message(
        user=owner, conversation_id=conversation.id, role="user", content="**first**"
    )
    return conversation


def cached_page(owner, conversation):
    scope = numina_cache.conversation_scope(owner_id=owner.pk, conversation_id=conversation.id)
    return numina_cache.read(
        kind=numina_cache.CONVERSATION, scope=scope, variant=views.MESSAGES_VARIANT
    )


def test_the_chat_pages_messages_are_served_from_the_cache(browser, owner, conversation):
    assert cached_page(owner, conversation) is None
    first = browser.get(reverse("chat", args=[conversation.id]))
    assert "<strong>first</strong>" in first.content.decode()
    assert cached_page(owner, conversation) is not None
    # Behind the cache's back (no service, so no invalidation): a page built from the
    # database would show the new text, one served from the cache still the old.
    Message.objects.filter(conversation=conversation).update(content="**changed behind**")

    second = browser.get(reverse("chat", args=[conversation.id])).content.decode()

    assert "<strong>first</strong>" in second
    assert "changed behind" not in second


def test_a_message_sent_from_the_page_shows_on_the_next_load(browser, owner, conversation):
    browser.get(reverse("chat", args=[conversation.id]))
    browser.post(reverse("send", args=[conversation.id]), {"content": "second message"})
    assert "second message" in browser.get(reverse("chat", args=[conversation.id])).content.decode()


def test_a_rename_in_the_ui_makes_the_api_fresh(browser, owner, conversation):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=owner)[0]}")
    url = f"/api/v1/conversations/{conversation.id}/"
    assert api.get(url)["X-Cache"] == "miss"
    assert api.get(url)["X-Cache"] == "hit"
    browser.post(reverse("rename", args=[conversation.id]), {"title": "Renamed in the browser"})
    assert api.get(url).json()["title"] == "Renamed in the browser"
    assert (
        api.get("/api/v1/conversations/").json()["results"][0]["title"] == "Renamed in the browser"
    )


def test_another_user_never_gets_the_cached_page(browser, owner, conversation, client):
    browser.get(reverse("chat", args=[conversation.id]))
    intruder = UserFactory()
    client.force_login(intruder)
    assert client.get(reverse("chat", args=[conversation.id])).status_code == 404


def test_a_version_switch_or_a_new_version_makes_the_cached_page_fresh(
    browser, owner, conversation
):
    (question,) = conversation.messages.all()
    first = services.add_message(
        user=owner, conversation_id=conversation.id, role="assistant", content="First reply"
    ).message
    page = reverse("chat", args=[conversation.id])
    assert "First reply" in browser.get(page).content.decode()  # now cached

    browser.post(reverse("regenerate", args=[conversation.id, first.id]))
    regenerated = browser.get(page).content.decode()
    assert "First reply" not in regenerated
    assert "2 / 2" in regenerated

    browser.post(reverse("show_version", args=[conversation.id, first.id]))
    assert "First reply" in browser.get(page).content.decode()

    # From elsewhere (the API, another tab): the next load follows too.
    newest = conversation.messages.filter(parent=question).order_by("-seq").first()
    services.switch_branch(user=owner, conversation_id=conversation.id, message_id=newest.id)
    assert "First reply" not in browser.get(page).content.decode()
