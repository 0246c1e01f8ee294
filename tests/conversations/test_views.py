"""The browser UI through Django's test client: pages, actions, ownership, query counts."""

import json
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from conversations import cursors, llm, selectors, services
from conversations.models import Conversation, Message
from tests.factories import UserFactory
from tests.fake_anthropic import Fail, Stream

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def make_chat(user, title=None, messages=(), **kwargs) -> Conversation:
    conversation = services.create_conversation(user=user, title=title, **kwargs)
    for index, content in enumerate(messages):
        services.add_message(
            user=user,
            conversation_id=conversation.id,
            role="user" if index % 2 == 0 else "assistant",
            content=content,
        )
    conversation.refresh_from_db()
    return conversation


def html(response) -> str:
    return response.content.decode()


# --- pages ------------------------------------------------------------------------------


def test_home_without_chats_shows_an_empty_composer(browser):
    response = browser.get(reverse("home"))
    assert response.status_code == 200
    assert 'aria-label="Send"' in html(response)
    assert 'action="/chats/send/"' in html(response)


def test_home_shows_the_newest_chat(browser, user):
    make_chat(user, "older", ["old words"])
    make_chat(user, "newest", ["fresh words"])
    response = browser.get(reverse("home"))
    assert response.context["conversation"].title == "newest"
    assert "fresh words" in html(response)


def test_chat_page_shows_messages_with_roles(browser, user):
    chat = make_chat(user, "A chat", ["hello there", "general kenobi"])
    page = html(browser.get(reverse("chat", args=[chat.id])))
    assert "hello there" in page
    assert "general kenobi" in page
    assert "role-user" in page
    assert "role-assistant" in page


def test_every_page_needs_login(client, user):
    chat = make_chat(user, "mine")
    for url in [
        reverse("home"),
        reverse("new_chat"),
        reverse("chat", args=[chat.id]),
        reverse("chat_list"),
        reverse("rename", args=[chat.id]),
        reverse("export", args=[chat.id]),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_markdown_is_rendered_and_sanitised(browser, user):
    chat = make_chat(
        user,
        "md",
        [
            "**bold** <script>alert(1)</script> <img src=x onerror=alert(2)> "
            "[click](javascript:alert(3)) <a href='#' onclick='x()'>a</a>\n\n"
            "```python\nprint(1)\n```"
        ],
    )
    page = html(browser.get(reverse("chat", args=[chat.id])))
    body = page[page.index('class="messages"') :]
    assert "<strong>bold</strong>" in body
    assert "<pre><code" in body
    assert "<script>alert" not in body
    assert "onerror" not in body
    assert "javascript:" not in body
    assert "onclick" not in body


def test_titles_are_escaped(browser, user):
    make_chat(user, "<script>alert(1)</script><img src=x onerror=alert(2)>", ["hi"])
    page = html(browser.get(reverse("home")))
    assert "<script>alert(1)" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_offline_provider_is_marked(browser, settings):
    settings.ANTHROPIC_API_KEY = ""
    assert "Assistant offline" in html(browser.get(reverse("home")))


# --- sidebar ----------------------------------------------------------------------------


def test_sidebar_lists_pinned_first_then_recent(browser, user):
    make_chat(user, "pinned one", is_pinned=True)
    make_chat(user, "recent one")
    page = html(browser.get(reverse("chat_list"), **HTMX))
    assert page.index("pinned one") < page.index("recent one")
    assert "Pinned" in page


def test_sidebar_pages_with_a_cursor(browser, user, settings):
    settings.NUMINA_PAGE_SIZE = 2
    for n in range(5):
        make_chat(user, f"chat {n}")
    first = browser.get(reverse("chat_list"), **HTMX)
    assert [c.title for c in first.context["sidebar"]["page"].conversations] == [
        "chat 4",
        "chat 3",
    ]
    cursor = first.context["sidebar"]["page"].next_cursor
    second = browser.get(reverse("chat_list"), {"cursor": cursor}, **HTMX)
    assert [c.title for c in second.context["sidebar"]["page"].conversations] == [
        "chat 2",
        "chat 1",
    ]
    assert 'hx-trigger="intersect once"' in html(second)


def test_sidebar_archived_tab_lists_only_archived(browser, user):
    make_chat(user, "active one")
    archived = make_chat(user, "archived one")
    services.archive_conversation(user=user, conversation_id=archived.id)
    page = html(browser.get(reverse("chat_list"), {"archived": "1"}, **HTMX))
    assert "archived one" in page
    assert "active one" not in page


def test_chat_list_without_htmx_redirects_to_the_page(browser):
    response = browser.get(reverse("chat_list"), {"archived": "1"})
    assert response.status_code == 302
    assert response["Location"] == "/?archived=1"


def test_search_finds_by_title(browser, user):
    make_chat(user, "Holiday plans")
    make_chat(user, "Taxes")
    page = html(browser.get(reverse("chat_list"), {"q": "holiday"}, **HTMX))
    assert "Holiday plans" in page
    assert "Taxes" not in page


def test_search_finds_by_message_with_a_marked_snippet(browser, user):
    make_chat(user, "Garden", ["the tomatoes need <b>water</b> daily"])
    page = html(browser.get(reverse("chat_list"), {"q": "tomatoes"}, **HTMX))
    assert "Garden" in page
    assert "<mark>tomatoes</mark>" in page
    assert "<b>water</b>" not in page


def test_search_never_shows_another_users_chats(browser, other_user):
    make_chat(other_user, "secret plans", ["secret plans inside"])
    page = html(browser.get(reverse("chat_list"), {"q": "secret"}, **HTMX))
    assert "secret plans" not in page


def test_search_too_long_is_an_error_not_a_crash(browser, settings):
    settings.NUMINA_SEARCH_QUERY_MAX_LENGTH = 5
    response = browser.get(reverse("chat_list"), {"q": "far too long"}, **HTMX)
    assert response.status_code == 200
    assert "no more than 5 characters" in html(response)


# --- composer ---------------------------------------------------------------------------


def stream_events(response) -> list[dict]:
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_send_without_javascript_stores_the_message_and_the_reply(browser, user):
    chat = make_chat(user, "c")
    response = browser.post(reverse("send", args=[chat.id]), {"content": "hello world"})
    assert response.status_code == 302
    assert response["Location"] == reverse("chat", args=[chat.id])
    assert list(chat.messages.values_list("role", "content")) == [
        ("user", "hello world"),
        ("assistant", llm.OFFLINE_REPLY),
    ]


def test_offline_reply_is_marked_offline(browser, user):
    chat = make_chat(user, "c")
    browser.post(reverse("send", args=[chat.id]), {"content": "hello"})
    page = html(browser.get(reverse("chat", args=[chat.id])))
    reply = page[page.index("role-assistant") :]
    assert '<span class="badge offline">Offline</span>' in reply


def test_send_to_a_new_chat_creates_it(browser, user):
    response = browser.post(reverse("send_new"), {"content": "first words"})
    chat = Conversation.objects.get(owner=user)
    assert response["Location"] == reverse("chat", args=[chat.id])
    assert chat.messages.filter(role="user", content="first words").exists()


def test_send_streaming_sends_deltas_then_the_stored_messages(browser, user):
    chat = make_chat(user, "c")
    response = browser.post(
        reverse("send", args=[chat.id]), {"content": "stream me"}, HTTP_X_NUMINA_STREAM="1"
    )
    assert response["Content-Type"] == "application/x-ndjson"
    events = stream_events(response)
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    assert "".join(deltas) == llm.OFFLINE_REPLY
    assert events[-1]["type"] == "done"
    assert "stream me" in events[-1]["html"]
    assert "role-assistant" in events[-1]["html"]


def test_send_streaming_relays_claudes_deltas(browser, user, claude):
    claude.answer(Stream(chunks=["**Pho", "to", "synthesis**"]))
    chat = make_chat(user, "c")
    response = browser.post(
        reverse("send", args=[chat.id]), {"content": "explain"}, HTTP_X_NUMINA_STREAM="1"
    )
    events = stream_events(response)
    assert [e["text"] for e in events if e["type"] == "delta"] == ["**Pho", "to", "synthesis**"]
    assert "<strong>Photosynthesis</strong>" in events[-1]["html"]
    assert "Offline" not in events[-1]["html"]


def test_send_streaming_when_the_model_fails_keeps_the_message(browser, user, claude):
    claude.default = Fail(400)
    chat = make_chat(user, "c")
    response = browser.post(
        reverse("send", args=[chat.id]), {"content": "are you there"}, HTTP_X_NUMINA_STREAM="1"
    )
    events = stream_events(response)
    assert events[-1]["type"] == "error"
    assert "Your message is saved" in events[-1]["message"]
    assert "are you there" in events[-1]["html"]
    assert list(chat.messages.values_list("role", flat=True)) == ["user"]


def test_send_without_javascript_when_the_model_fails_says_so(browser, user, claude):
    claude.default = Fail(400)
    chat = make_chat(user, "c")
    response = browser.post(
        reverse("send", args=[chat.id]), {"content": "are you there"}, follow=True
    )
    assert "could not answer right now" in html(response)
    assert chat.messages.filter(role="user", content="are you there").exists()


def test_send_streaming_to_a_new_chat_gives_its_address(browser, user):
    response = browser.post(reverse("send_new"), {"content": "new"}, HTTP_X_NUMINA_STREAM="1")
    events = stream_events(response)
    chat = Conversation.objects.get(owner=user)
    assert events[-1]["url"] == reverse("chat", args=[chat.id])
    assert 'id="chat-title"' in events[-1]["heading"]
    # The heading names its chat, so the event stream's title for it finds it; it does
    # not poll for the title.
    assert f'data-conversation-id="{chat.id}"' in events[-1]["heading"]
    assert "load delay" not in events[-1]["heading"]


def test_send_blank_keeps_the_page_with_an_error(browser, user):
    chat = make_chat(user, "c")
    response = browser.post(reverse("send", args=[chat.id]), {"content": "   "})
    assert response.status_code == 400
    assert "may not be blank" in html(response)
    assert not Message.objects.filter(conversation=chat).exists()


def test_send_too_long_keeps_the_typed_text(browser, user, settings):
    settings.NUMINA_CONTENT_MAX_LENGTH = 10
    chat = make_chat(user, "c")
    response = browser.post(reverse("send", args=[chat.id]), {"content": "x" * 11})
    assert response.status_code == 400
    assert "x" * 11 in html(response)


def test_send_streaming_invalid_is_a_json_400(browser, user):
    chat = make_chat(user, "c")
    response = browser.post(
        reverse("send", args=[chat.id]), {"content": ""}, HTTP_X_NUMINA_STREAM="1"
    )
    assert response.status_code == 400
    assert response.json()["errors"]


def test_send_is_throttled_like_the_api(browser, user, settings):
    settings.NUMINA_THROTTLE_CHAT = "1/min"
    chat = make_chat(user, "c")
    browser.post(reverse("send", args=[chat.id]), {"content": "one"})
    response = browser.post(reverse("send", args=[chat.id]), {"content": "two"})
    assert response.status_code == 429
    assert "Too many messages" in html(response)
    assert "two</textarea>" in html(response)
    assert not chat.messages.filter(content="two").exists()


@pytest.mark.parametrize(
    "url_name", ["send", "rename", "delete", "archive", "unarchive", "pin", "unpin"]
)
def test_every_post_without_csrf_is_refused(user, url_name):
    from django.test import Client

    chat = make_chat(user, "c")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(
        reverse(url_name, args=[chat.id]), {"content": "hi", "title": "t"}, **HTMX
    )
    assert response.status_code == 403
    chat.refresh_from_db()
    assert chat.title == "c"
    assert chat.message_count == 0


def test_pages_give_htmx_the_csrf_token(browser):
    page = html(browser.get(reverse("home")))
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


# --- actions ----------------------------------------------------------------------------


def test_rename_inline_form_has_a_title_field(browser, user):
    chat = make_chat(user, "old")
    page = html(browser.get(reverse("rename", args=[chat.id]), **HTMX))
    assert 'aria-label="Title"' in page
    # Escape (static/numina.js) fetches the entry back from here.
    assert f'data-cancel-url="{reverse("chat_item", args=[chat.id])}"' in page


def test_rename_saves_and_sets_a_users_title(browser, user):
    chat = make_chat(user, "old")
    response = browser.post(reverse("rename", args=[chat.id]), {"title": "  new name "}, **HTMX)
    # The entry, renamed, replaces the field; the sidebar reloads for the new order.
    assert response.status_code == 200
    assert response["HX-Trigger"] == "conversationsChanged"
    entry = html(response)
    assert "new name" in entry
    assert "is-renaming" not in entry
    chat.refresh_from_db()
    assert chat.title == "new name"
    assert chat.title_set_by_user


def test_rename_without_javascript_redirects_back(browser, user):
    chat = make_chat(user, "old")
    response = browser.post(
        reverse("rename", args=[chat.id]), {"title": "new", "next": reverse("home")}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_rename_blank_shows_the_error(browser, user):
    chat = make_chat(user, "old")
    response = browser.post(reverse("rename", args=[chat.id]), {"title": "  "})
    assert response.status_code == 400
    chat.refresh_from_db()
    assert chat.title == "old"


def test_rename_too_long_is_refused(browser, user, settings):
    settings.NUMINA_TITLE_MAX_LENGTH = 5
    chat = make_chat(user, "old")
    response = browser.post(reverse("rename", args=[chat.id]), {"title": "toolong"}, **HTMX)
    assert "no more than 5 characters" in html(response)


def test_next_to_another_site_is_ignored(browser, user):
    chat = make_chat(user, "c")
    response = browser.post(reverse("pin", args=[chat.id]), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("chat", args=[chat.id])


@pytest.mark.parametrize(
    ("action", "field", "before", "after"),
    [
        ("archive", "is_archived", False, True),
        ("unarchive", "is_archived", True, False),
        ("pin", "is_pinned", False, True),
        ("unpin", "is_pinned", True, False),
    ],
)
def test_flag_actions_change_the_chat(browser, user, action, field, before, after):
    chat = make_chat(user, "c")
    Conversation.objects.filter(pk=chat.pk).update(**{field: before})
    response = browser.post(reverse(action, args=[chat.id]), **HTMX)
    assert response.status_code == 204
    chat.refresh_from_db()
    assert getattr(chat, field) is after


def test_flag_actions_are_post_only(browser, user):
    chat = make_chat(user, "c")
    assert browser.get(reverse("archive", args=[chat.id])).status_code == 405


def test_delete_without_javascript_asks_to_confirm(browser, user):
    chat = make_chat(user, "doomed")
    page = html(browser.get(reverse("delete", args=[chat.id])))
    assert "Delete “doomed”?" in page
    assert Conversation.objects.filter(pk=chat.pk).exists()


def test_delete_moves_the_chat_to_the_trash(browser, user):
    chat = make_chat(user, "doomed", ["bye"])
    response = browser.post(reverse("delete", args=[chat.id]))
    assert response["Location"] == reverse("home")
    assert Conversation.objects.get(pk=chat.pk).trashed_at is not None
    assert browser.get(reverse("chat", args=[chat.id])).status_code == 404


def test_delete_of_the_open_chat_with_htmx_goes_home(browser, user):
    chat = make_chat(user, "doomed")
    response = browser.post(
        reverse("delete", args=[chat.id]),
        HTTP_HX_CURRENT_URL=f"http://testserver{reverse('chat', args=[chat.id])}",
        **HTMX,
    )
    assert response["HX-Redirect"] == reverse("home")


def test_delete_button_asks_to_confirm_with_htmx(browser, user):
    make_chat(user, "doomed")
    assert "hx-confirm=" in html(browser.get(reverse("home")))


@pytest.mark.parametrize(
    ("fmt", "content_type", "extension"),
    [("json", "application/json", ".json"), ("markdown", "text/markdown", ".md")],
)
def test_export_downloads(browser, user, fmt, content_type, extension):
    chat = make_chat(user, "Export me", ["some content"])
    response = browser.get(reverse("export", args=[chat.id]), {"format": fmt})
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Disposition"].endswith(f'{extension}"')
    assert b"some content" in b"".join(response.streaming_content)


def test_title_partial_is_the_heading_without_polling(browser, user):
    chat = make_chat(user, None, ["hello"])
    Conversation.objects.filter(pk=chat.pk).update(title="Now titled")
    page = html(browser.get(reverse("chat_title", args=[chat.id]), **HTMX))
    assert f'data-conversation-id="{chat.id}"' in page
    assert "Now titled" in page
    assert "load delay" not in page
    assert "polls" not in page


def test_chat_page_heading_does_not_poll_for_the_title(browser, user):
    chat = make_chat(user, None, ["hello"])
    page = html(browser.get(reverse("chat", args=[chat.id])))
    assert "load delay" not in page
    assert "polls=" not in page


def _events_since(page: str) -> str:
    match = re.search(r'data-events-since="([^"]+)"', page)
    assert match, "the chat page names no place in the event stream"
    return match.group(1)


def _changed_since(user, token: str) -> set:
    page = selectors.sync_changes(
        user=user, since=cursors.sync_point(token=token), limit=100, include_messages=True
    )
    return {conversation.id for conversation in page.conversations} | set(page.deleted)


@pytest.mark.parametrize("route", ["home", "chat"])
def test_chat_page_says_where_in_the_event_stream_it_was_made(browser, user, route):
    """The script follows the stream from the page's token: nothing the page already
    shows comes again, and a change made after it comes."""
    chat = make_chat(user, "Shown", ["hello"])
    other = make_chat(user, "Also shown")
    url = reverse("chat", args=[chat.id]) if route == "chat" else reverse("home")
    token = _events_since(html(browser.get(url)))
    assert _changed_since(user, token) == set()
    services.rename_conversation(user=user, conversation_id=chat.id, title="Renamed later")
    services.delete_conversation(user=user, conversation_id=other.id)
    assert _changed_since(user, token) == {chat.id, other.id}


def test_event_stream_token_is_the_users_own(browser, user):
    """Another user's changes do not move the user's place in the stream."""
    token = _events_since(html(browser.get(reverse("new_chat"))))
    stranger = UserFactory()
    make_chat(stranger, "Not yours", ["hi"])
    assert _events_since(html(browser.get(reverse("new_chat")))) == token
    assert _changed_since(user, token) == set()


def test_signed_in_pages_name_the_event_stream(browser):
    assert 'data-events-url="/api/v1/events/"' in html(browser.get(reverse("home")))
    assert "data-events-url" not in html(Client().get(reverse("login")))


# --- another user's chats ---------------------------------------------------------------


def _others_chat_requests(chat_id):
    yield "get", reverse("chat", args=[chat_id]), {}
    yield "get", reverse("chat_title", args=[chat_id]), {}
    yield "get", reverse("chat_item", args=[chat_id]), {}
    yield "get", reverse("rename", args=[chat_id]), {}
    yield "post", reverse("rename", args=[chat_id]), {"title": "mine now"}
    yield "get", reverse("delete", args=[chat_id]), {}
    yield "post", reverse("delete", args=[chat_id]), {}
    yield "get", reverse("export", args=[chat_id]), {}
    yield "post", reverse("send", args=[chat_id]), {"content": "hi"}
    for action in ("archive", "unarchive", "pin", "unpin"):
        yield "post", reverse(action, args=[chat_id]), {}


@pytest.mark.parametrize("htmx", [False, True])
def test_another_users_chat_is_404_on_every_action(browser, other_user, htmx):
    chat = make_chat(other_user, "theirs", ["private"])
    for method, url, data in _others_chat_requests(chat.id):
        response = getattr(browser, method)(url, data, **(HTMX if htmx else {}))
        assert response.status_code == 404, (method, url)
    chat.refresh_from_db()
    assert chat.title == "theirs"
    assert not chat.is_archived
    assert not chat.is_pinned
    assert chat.message_count == 1


def test_unknown_chat_is_404(browser):
    assert browser.get(reverse("chat", args=[uuid.uuid4()])).status_code == 404
    assert browser.get("/chats/not-a-uuid/").status_code == 404


# --- query counts -----------------------------------------------------------------------


def _fill(user, *, chats: int, messages: int):
    for n in range(chats):
        make_chat(user, f"chat {n}", [f"message {m}" for m in range(messages)], is_pinned=n < 2)


def _count_queries(client, url, data=None, **extra) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, data or {}, **extra)
        assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    ("url_name", "data", "extra"),
    [
        ("home", {}, {}),
        ("chat_list", {}, HTMX),
        ("chat_list", {"archived": "1"}, HTMX),
        ("chat_list", {"q": "message"}, HTMX),
    ],
)
def test_list_pages_run_a_fixed_number_of_queries(client, url_name, data, extra):
    small, large = UserFactory(), UserFactory()
    _fill(small, chats=3, messages=2)
    _fill(large, chats=30, messages=6)
    for user in (small, large):
        Conversation.objects.filter(owner=user, title__endswith="1").update(is_archived=True)
    counts = []
    for user in (small, large):
        client.force_login(user)
        counts.append(_count_queries(client, reverse(url_name), data, **extra))
    assert counts[0] == counts[1]


def test_chat_page_runs_a_fixed_number_of_queries(client, django_assert_max_num_queries):
    small, large = UserFactory(), UserFactory()
    _fill(small, chats=2, messages=2)
    _fill(large, chats=25, messages=60)
    counts = []
    for user in (small, large):
        client.force_login(user)
        chat = Conversation.objects.filter(owner=user).order_by("-last_activity_at").first()
        counts.append(_count_queries(client, reverse("chat", args=[chat.id])))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(counts[0]):
        client.get(reverse("chat", args=[chat.id]))
