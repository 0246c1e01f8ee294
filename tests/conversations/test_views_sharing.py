"""Sharing in the browser (issue 18): the chat page's Share / Copy link / Stop sharing
(htmx and plain forms) and the read-only page /s/<token>/ for anyone with the link."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from conversations import services
from conversations.models import Conversation, ShareLink

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def chat(user) -> Conversation:
    conversation = services.create_conversation(user=user, title="Garden plans")
    services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="Plant **tomatoes**? <script>alert(1)</script> [x](javascript:alert(2))",
    )
    services.add_message(
        user=user, conversation_id=conversation.id, role="assistant", content="Yes, in May."
    )
    conversation.refresh_from_db()
    return conversation


def link_in(page: str) -> str:
    match = re.search(r'id="share-link" class="share-link" value="([^"]+)"', page)
    assert match, "no share link on the page"
    return match.group(1)


def without_csrf(response) -> str:
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", response.content.decode())


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


# --- the chat page --------------------------------------------------------------------------


def test_an_unshared_chat_offers_share_only(browser, chat):
    page = browser.get(reverse("chat", args=[chat.id])).content.decode()

    assert ">Share</button>" in page
    assert "Stop sharing" not in page
    assert 'id="shared-badge"' not in page


def test_htmx_share_shows_the_link_once_with_copy_link_and_stop_sharing(browser, chat):
    response = browser.post(reverse("share", args=[chat.id]), **HTMX)

    assert response.status_code == 200
    panel = response.content.decode()
    url = link_in(panel)
    assert url.startswith("http://testserver/s/")
    assert "Copy link" in panel
    assert "Stop sharing" in panel
    assert 'id="shared-badge"' in panel
    assert ShareLink.objects.filter(conversation=chat).count() == 1


def test_a_plain_form_share_answers_the_chat_page_with_the_link(browser, chat):
    response = browser.post(reverse("share", args=[chat.id]))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="chat-share" open' in page
    assert Client().get(path_of(link_in(page))).status_code == 200


def test_a_shared_chat_says_so_on_its_page_without_the_link(browser, chat):
    browser.post(reverse("share", args=[chat.id]))

    page = browser.get(reverse("chat", args=[chat.id])).content.decode()

    assert 'id="shared-badge"' in page
    assert "Stop sharing" in page
    assert 'id="share-link"' not in page  # only its hash is kept


def test_sharing_an_empty_chat_is_refused_in_the_panel(browser, user):
    empty = services.create_conversation(user=user)

    htmx = browser.post(reverse("share", args=[empty.id]), **HTMX)
    plain = browser.post(reverse("share", args=[empty.id]))

    assert htmx.status_code == 200
    assert "no messages to share" in htmx.content.decode()
    assert plain.status_code == 400
    assert "no messages to share" in plain.content.decode()
    assert not ShareLink.objects.exists()


def test_stop_sharing_ends_the_link_htmx_and_plain(browser, chat):
    first = link_in(browser.post(reverse("share", args=[chat.id]), **HTMX).content.decode())

    htmx = browser.post(reverse("unshare", args=[chat.id]), **HTMX)

    assert htmx.status_code == 200
    assert "Stop sharing" not in htmx.content.decode()
    assert Client().get(path_of(first)).status_code == 404
    second = link_in(browser.post(reverse("share", args=[chat.id])).content.decode())
    plain = browser.post(reverse("unshare", args=[chat.id]))
    assert plain.status_code == 302
    assert Client().get(path_of(second)).status_code == 404


def test_another_users_chat_cannot_be_shared_or_unshared(browser, other_user):
    theirs = services.create_conversation(user=other_user, title="theirs")
    services.add_message(user=other_user, conversation_id=theirs.id, role="user", content="hi")
    kept = services.share_conversation(user=other_user, conversation_id=theirs.id)

    assert browser.post(reverse("share", args=[theirs.id])).status_code == 404
    assert browser.post(reverse("unshare", args=[theirs.id]), **HTMX).status_code == 404
    assert ShareLink.objects.filter(conversation=theirs).count() == 1
    assert Client().get(f"/s/{kept.token}/").status_code == 200


def test_share_and_stop_sharing_are_post_only(browser, chat):
    assert browser.get(reverse("share", args=[chat.id])).status_code == 405
    assert browser.get(reverse("unshare", args=[chat.id])).status_code == 405


# --- the shared page ------------------------------------------------------------------------


@pytest.fixture
def token(user, chat) -> str:
    return services.share_conversation(user=user, conversation_id=chat.id).token


def test_the_shared_page_reads_without_sign_in(client, token):
    response = client.get(f"/s/{token}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Garden plans" in page
    assert "<strong>tomatoes</strong>" in page
    assert "Yes, in May." in page


def test_the_shared_page_is_noindex_uncached_and_sends_no_referrer(client, token):
    response = client.get(f"/s/{token}/")

    assert response["X-Robots-Tag"] == "noindex"
    assert '<meta name="robots" content="noindex">' in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_the_shared_page_sanitises_markdown_as_the_chat_page_does(client, token):
    page = client.get(f"/s/{token}/").content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "javascript:" not in page


def test_the_shared_page_has_no_owner_no_other_chats_no_composer_no_tools(
    client, user, chat, token
):
    services.create_conversation(user=user, title="My other secret chat")

    page = client.get(f"/s/{token}/").content.decode()

    assert user.username not in page
    assert "My other secret chat" not in page
    assert str(chat.id) not in page
    assert 'name="content"' not in page  # the composer
    assert "<form" not in page
    for tool in ("Regenerate", "Edit", "Send", "Stop sharing", "Log out"):
        assert f">{tool}<" not in page


def test_a_signed_in_owner_sees_the_same_read_only_page(browser, token):
    page = browser.get(f"/s/{token}/").content.decode()

    assert "<form" not in page
    assert 'name="content"' not in page


def test_a_bad_or_revoked_token_is_the_same_404_page(client, user, chat, token):
    changed = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    never = client.get(f"/s/{changed}/")
    services.stop_sharing(user=user, conversation_id=chat.id)
    revoked = client.get(f"/s/{token}/")

    assert never.status_code == revoked.status_code == 404
    # The same page but for base.html's per-request (masked) CSRF token.
    assert without_csrf(never) == without_csrf(revoked)
    assert revoked["X-Robots-Tag"] == "noindex"
    assert "noindex" in revoked.content.decode()


def test_a_shared_chat_moved_to_the_trash_is_404_at_once(client, user, chat, token):
    assert client.get(f"/s/{token}/").status_code == 200

    services.trash_conversation(user=user, conversation_id=chat.id)

    assert client.get(f"/s/{token}/").status_code == 404


def test_the_shared_page_is_throttled_per_address(client, token, settings):
    settings.NUMINA_SHARE_RATE = "2/min"
    assert [client.get(f"/s/{token}/").status_code for _ in range(2)] == [200, 200]

    throttled = client.get(f"/s/{token}/")

    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) >= 1
    assert throttled["X-Robots-Tag"] == "noindex"


def test_the_shared_page_runs_the_same_queries_however_long(client, user, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for length in (2, 40):
        chat = services.create_conversation(user=user)
        for index in range(length):
            services.add_message(
                user=user,
                conversation_id=chat.id,
                role="user" if index % 2 == 0 else "assistant",
                content=f"message {index}",
            )
        token = services.share_conversation(user=user, conversation_id=chat.id).token
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/s/{token}/").status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1] <= 2
