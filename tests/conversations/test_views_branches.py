"""Branches in the browser UI through Django's test client: the chat page shows the current
branch; Edit, Regenerate and the version buttons, as plain forms and as the script's
streams and htmx swaps; other users' ids, bad input, CSRF and query counts."""

import json
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from conversations import llm, services
from conversations.models import Conversation, Message
from tests.factories import UserFactory
from tests.fake_anthropic import Fail, Reply, Stream

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
STREAM = {"HTTP_X_NUMINA_STREAM": "1"}


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def add(user, chat, role, content, parent=None) -> Message:
    return services.add_message(
        user=user,
        conversation_id=chat.id,
        role=role,
        content=content,
        parent_id=parent.id if isinstance(parent, Message) else parent,
    ).message


def thread(user, *contents: str, title="Branches") -> tuple[Conversation, list[Message]]:
    """A chat of alternating user / assistant messages, one straight branch."""
    chat = services.create_conversation(user=user, title=title)
    messages = [
        add(user, chat, "user" if n % 2 == 0 else "assistant", content)
        for n, content in enumerate(contents)
    ]
    return chat, messages


def current(chat: Conversation) -> uuid.UUID | None:
    chat.refresh_from_db()
    return chat.current_message_id


def html(response) -> str:
    return response.content.decode()


def stream_events(response) -> list[dict]:
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def versions_of(page: str, message: Message) -> str | None:
    """The "i / n" shown on a message's article, or None when it shows none."""
    article = re.search(
        rf'<article [^>]*data-message-id="{message.id}".*?</article>', page, flags=re.S
    )
    assert article, f"message {message.content!r} is not shown"
    count = re.search(r'<span class="version-count">([^<]*)</span>', article.group(0))
    return count.group(1) if count else None


# --- the chat page shows the current branch -----------------------------------------------


def test_the_chat_page_shows_only_the_current_branch(browser, user):
    chat, (_question, _answer) = thread(user, "Old question", "Old answer")
    new_question = add(user, chat, "user", "New question", parent=services.NO_PARENT)
    add(user, chat, "assistant", "New answer", parent=new_question)

    page = html(browser.get(reverse("chat", args=[chat.id])))

    assert "New question" in page
    assert "New answer" in page
    assert "Old question" not in page
    assert "Old answer" not in page
    assert versions_of(page, new_question) == "2 / 2"


def test_versions_show_their_place_and_the_buttons_stop_at_the_ends(browser, user):
    chat, (question, first) = thread(user, "Q", "First reply")
    second = add(user, chat, "assistant", "Second reply", parent=question)
    third = add(user, chat, "assistant", "Third reply", parent=question)
    services.switch_branch(user=user, conversation_id=chat.id, message_id=second.id)

    page = html(browser.get(reverse("chat", args=[chat.id])))

    assert versions_of(page, question) is None  # one version: no buttons
    assert versions_of(page, second) == "2 / 3"
    show = reverse("show_version", args=[chat.id, first.id])
    assert f'formaction="{show}"' in page
    assert f'hx-post="{show}"' in page
    assert reverse("show_version", args=[chat.id, third.id]) in page

    services.switch_branch(user=user, conversation_id=chat.id, message_id=first.id)
    page = html(browser.get(reverse("chat", args=[chat.id])))
    article = page[page.index(f'data-message-id="{first.id}"') :]
    previous = re.search(r'<button [^>]*aria-label="Previous version"[^>]*>', article, re.S)
    following = re.search(r'<button [^>]*aria-label="Next version"[^>]*>', article, re.S)
    assert "disabled" in previous.group(0)
    assert "disabled" not in following.group(0)


def test_each_user_message_has_edit_and_each_reply_regenerate(browser, user):
    chat, (question, answer) = thread(user, "Q", "A")
    page = html(browser.get(reverse("chat", args=[chat.id])))
    assert reverse("edit_message", args=[chat.id, question.id]) in page
    assert reverse("regenerate", args=[chat.id, answer.id]) in page
    assert reverse("edit_message", args=[chat.id, answer.id]) not in page
    assert reverse("regenerate", args=[chat.id, question.id]) not in page
    assert ">Edit</button>" in page
    assert ">Regenerate</button>" in page


def test_the_cached_message_list_carries_no_csrf_token(browser, user):
    """Its forms submit the page's own #message-actions form: the list is shared by the
    user's sessions through the cache, a token in it would be another session's."""
    chat, _ = thread(user, "Q", "A")
    page = html(browser.get(reverse("chat", args=[chat.id])))
    listing = page[page.index('id="message-list"') : page.index('id="message-actions"')]
    assert "csrfmiddlewaretoken" not in listing
    actions = re.search(r'<form id="message-actions".*?</form>', page, re.S).group(0)
    assert 'name="csrfmiddlewaretoken"' in actions
    assert 'form="message-actions"' in listing


def test_earlier_messages_page_along_the_branch(browser, user, settings):
    settings.NUMINA_RETRIEVE_MESSAGES = 3
    chat, main = thread(user, "m1", "m2", "m3", "m4", "m5", "m6")
    # A branch from m2: its messages are stored after m3…m6 but follow m2.
    b1 = add(user, chat, "user", "b1", parent=main[1])
    b2 = add(user, chat, "assistant", "b2", parent=b1)
    add(user, chat, "user", "b3", parent=b2)

    newest = html(browser.get(reverse("chat", args=[chat.id])))
    assert [c for c in ("b1", "b2", "b3") if f"<p>{c}</p>" in newest] == ["b1", "b2", "b3"]
    assert f"?before={b1.id}" in newest

    earlier = html(browser.get(reverse("chat", args=[chat.id]), {"before": str(b1.id)}))
    shown = re.findall(r'<div class="message-body prose"><p>(\w+)</p>', earlier)
    assert shown == ["m1", "m2"]  # m2's ancestors, not m3…m6 of the other branch
    assert "Earlier messages" not in earlier  # m1 is a first message


@pytest.mark.parametrize("before", ["not-a-uuid", str(uuid.uuid4())])
def test_earlier_messages_with_a_bad_id_shows_the_newest(browser, user, before):
    chat, _ = thread(user, "first", "second")
    page = html(browser.get(reverse("chat", args=[chat.id]), {"before": before}))
    assert "<p>first</p>" in page
    assert "<p>second</p>" in page


# --- Edit ---------------------------------------------------------------------------------


def test_edit_inline_gives_the_edited_message_field_filled(browser, user):
    chat, (question, _) = thread(user, "What is </textarea><script>x()</script>?", "A")
    response = browser.get(reverse("edit_message", args=[chat.id, question.id]), **HTMX)
    page = html(response)
    assert response.status_code == 200
    assert "<article" in page
    assert re.search(rf'<label for="edit-{question.id}"[^>]*>Edited message</label>', page)
    assert f'id="edit-{question.id}"' in page
    assert "What is &lt;/textarea&gt;&lt;script&gt;x()&lt;/script&gt;?</textarea>" in page
    assert "<script>x()" not in page
    assert ">Save and send</button>" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_edit_without_javascript_is_a_page_with_the_form(browser, user):
    chat, (question, _) = thread(user, "Original words", "A")
    response = browser.get(reverse("edit_message", args=[chat.id, question.id]))
    page = html(response)
    assert response.status_code == 200
    assert "<h1>Edit message</h1>" in page
    assert "Original words</textarea>" in page
    assert ">Save and send</button>" in page


def test_save_and_send_stores_a_new_version_and_its_reply(browser, user):
    chat, (_q1, a1, q2, a2) = thread(user, "Q1", "A1", "Q2", "A2")

    response = browser.post(
        reverse("edit_message", args=[chat.id, q2.id]), {"content": "Q2, better put"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("chat", args=[chat.id])
    edited = Message.objects.get(conversation=chat, content="Q2, better put")
    reply = Message.objects.get(conversation=chat, parent=edited)
    assert edited.parent_id == a1.id  # a sibling of Q2
    assert reply.role == "assistant"
    assert reply.content == llm.OFFLINE_REPLY
    assert current(chat) == reply.id
    assert Message.objects.filter(pk__in=[q2.pk, a2.pk]).count() == 2  # nothing overwritten
    page = html(browser.get(reverse("chat", args=[chat.id])))
    assert "Q2, better put" in page
    assert "<p>Q2</p>" not in page
    assert versions_of(page, edited) == "2 / 2"


def test_editing_the_first_message_makes_another_first_message(browser, user):
    chat, (question, _) = thread(user, "First", "A")
    browser.post(reverse("edit_message", args=[chat.id, question.id]), {"content": "First again"})
    edited = Message.objects.get(conversation=chat, content="First again")
    assert edited.parent_id is None
    assert edited.depth == 1
    page = html(browser.get(reverse("chat", args=[chat.id])))
    assert versions_of(page, edited) == "2 / 2"
    assert "<p>First</p>" not in page


def test_save_and_send_streams_the_reply_and_the_new_list(browser, user, claude):
    claude.answer(Stream(chunks=["A **better** ", "answer"]))
    chat, (question, _answer) = thread(user, "Q", "A")

    response = browser.post(
        reverse("edit_message", args=[chat.id, question.id]), {"content": "Q, edited"}, **STREAM
    )

    assert response["Content-Type"] == "application/x-ndjson"
    events = stream_events(response)
    assert [e["text"] for e in events if e["type"] == "delta"] == ["A **better** ", "answer"]
    done = events[-1]
    assert done["type"] == "done"
    assert done["list"].lstrip().startswith('<div id="message-list"')
    assert "<p>Q, edited</p>" in done["list"]
    assert "<strong>better</strong>" in done["list"]
    assert "<p>Q</p>" not in done["list"]
    edited = Message.objects.get(conversation=chat, content="Q, edited")
    assert versions_of(done["list"], edited) == "2 / 2"
    # The model saw the branch up to the new version only.
    assert [m["content"] for m in claude.requests[-1].body["messages"]] == ["Q, edited"]


def test_save_and_send_when_the_model_fails_keeps_the_new_version(browser, user, claude):
    claude.default = Fail(400)
    chat, (question, _answer) = thread(user, "Q", "A")
    events = stream_events(
        browser.post(
            reverse("edit_message", args=[chat.id, question.id]), {"content": "Q2"}, **STREAM
        )
    )
    assert events[-1]["type"] == "error"
    assert "Your message is saved" in events[-1]["message"]
    assert "<p>Q2</p>" in events[-1]["list"]
    edited = Message.objects.get(conversation=chat, content="Q2")
    assert current(chat) == edited.id


@pytest.mark.parametrize("content", ["", "   "])
def test_save_and_send_blank_shows_the_error_and_stores_nothing(browser, user, content):
    chat, (question, _) = thread(user, "Q", "A")
    url = reverse("edit_message", args=[chat.id, question.id])

    page_response = browser.post(url, {"content": content})
    stream_response = browser.post(url, {"content": content}, **STREAM)

    assert page_response.status_code == 400
    assert "<h1>Edit message</h1>" in html(page_response)
    assert re.search(r'role="alert">[^<]*(required|blank)', html(page_response))
    assert stream_response.status_code == 400
    assert stream_response.json()["errors"]
    assert chat.messages.count() == 2


def test_save_and_send_too_long_keeps_the_text_and_stores_nothing(browser, user, settings):
    settings.NUMINA_CONTENT_MAX_LENGTH = 10
    chat, (question, _) = thread(user, "Q", "A")
    response = browser.post(
        reverse("edit_message", args=[chat.id, question.id]), {"content": "y" * 11}
    )
    assert response.status_code == 400
    assert "y" * 11 + "</textarea>" in html(response)
    assert chat.messages.count() == 2


@pytest.mark.parametrize("extra", [{}, HTMX, STREAM])
def test_a_reply_cannot_be_edited(browser, user, extra):
    chat, (_, answer) = thread(user, "Q", "A")
    url = reverse("edit_message", args=[chat.id, answer.id])
    response = browser.post(url, {"content": "my words now"}, **extra)
    assert response.status_code == 400
    assert "Only your own messages can be edited." in html(response)
    assert browser.get(url, **extra).status_code == 400
    assert chat.messages.count() == 2


def test_save_and_send_is_throttled_like_the_composer(browser, user, settings):
    settings.NUMINA_THROTTLE_CHAT = "1/min"
    chat, (question, _) = thread(user, "Q", "A")
    url = reverse("edit_message", args=[chat.id, question.id])
    browser.post(url, {"content": "one"})
    response = browser.post(url, {"content": "two"})
    assert response.status_code == 429
    assert "Too many messages" in html(response)
    assert "two</textarea>" in html(response)
    assert not chat.messages.filter(content="two").exists()


def test_save_and_send_over_the_budget_is_refused(browser, user, settings):
    settings.NUMINA_DAILY_TOKEN_BUDGET = 1
    chat, (question, _) = thread(user, "Q", "A")
    services.chat(user=user, message="spend it", conversation_id=chat.id)
    count = chat.messages.count()
    response = browser.post(
        reverse("edit_message", args=[chat.id, question.id]), {"content": "again"}, **STREAM
    )
    assert response.status_code == 429
    assert response["Retry-After"]
    assert chat.messages.count() == count


def test_cancel_puts_the_message_back(browser, user):
    chat, (question, _) = thread(user, "Keep **me**", "A")
    response = browser.get(reverse("message", args=[chat.id, question.id]), **HTMX)
    assert response.status_code == 200
    assert "<strong>me</strong>" in html(response)
    assert f'data-message-id="{question.id}"' in html(response)
    plain = browser.get(reverse("message", args=[chat.id, question.id]))
    assert plain["Location"] == f"{reverse('chat', args=[chat.id])}#m-{question.seq}"


# --- Regenerate ---------------------------------------------------------------------------


def test_regenerate_without_javascript_adds_a_sibling_reply(browser, user):
    chat, (question, answer) = thread(user, "Q", "A")

    response = browser.post(reverse("regenerate", args=[chat.id, answer.id]))

    assert response.status_code == 302
    assert response["Location"] == reverse("chat", args=[chat.id])
    replies = list(chat.messages.filter(parent=question).order_by("seq"))
    assert len(replies) == 2
    assert replies[0].id == answer.id
    assert current(chat) == replies[1].id
    assert versions_of(html(browser.get(reverse("chat", args=[chat.id]))), replies[1]) == "2 / 2"


def test_regenerate_streams_the_new_reply_and_the_list(browser, user, claude):
    claude.answer(Stream(chunks=["Another ", "take"]))
    chat, (question, answer) = thread(user, "Q", "A")

    events = stream_events(browser.post(reverse("regenerate", args=[chat.id, answer.id]), **STREAM))

    assert [e["text"] for e in events if e["type"] == "delta"] == ["Another ", "take"]
    assert events[-1]["type"] == "done"
    assert "<p>Another take</p>" in events[-1]["list"]
    assert "<p>A</p>" not in events[-1]["list"]
    assert chat.messages.filter(parent=question).count() == 2


def test_regenerate_when_the_model_fails_changes_nothing(browser, user, claude):
    claude.default = Fail(400)
    chat, (_question, answer) = thread(user, "Q", "A")
    events = stream_events(browser.post(reverse("regenerate", args=[chat.id, answer.id]), **STREAM))
    assert events[-1]["type"] == "error"
    assert "The reply is as it was" in events[-1]["message"]
    assert "<p>A</p>" in events[-1]["list"]
    assert chat.messages.count() == 2
    assert current(chat) == answer.id

    page = browser.post(reverse("regenerate", args=[chat.id, answer.id]), follow=True)
    assert "The reply is as it was" in html(page)
    assert chat.messages.count() == 2


@pytest.mark.parametrize("extra", [{}, HTMX, STREAM])
def test_a_users_message_cannot_be_regenerated(browser, user, extra):
    chat, (question, _) = thread(user, "Q", "A")
    response = browser.post(reverse("regenerate", args=[chat.id, question.id]), **extra)
    assert response.status_code == 400
    assert "Only a reply of the assistant can be regenerated." in html(response)
    assert chat.messages.count() == 2


def test_regenerate_is_post_only(browser, user):
    chat, (_, answer) = thread(user, "Q", "A")
    assert browser.get(reverse("regenerate", args=[chat.id, answer.id])).status_code == 405
    assert browser.get(reverse("show_version", args=[chat.id, answer.id])).status_code == 405


def test_regenerate_is_throttled_like_the_composer(browser, user, settings):
    settings.NUMINA_THROTTLE_CHAT = "1/min"
    chat, (_, answer) = thread(user, "Q", "A")
    browser.post(reverse("regenerate", args=[chat.id, answer.id]))
    response = browser.post(reverse("regenerate", args=[chat.id, answer.id]))
    assert response.status_code == 429
    assert "Too many messages" in html(response)
    assert chat.messages.count() == 3


# --- Previous version / Next version ------------------------------------------------------


def test_a_version_button_swaps_the_list_to_that_branch(browser, user):
    chat, (_q1, a1, q2, a2) = thread(user, "Q1", "A1", "Q2", "A2")
    edited = add(user, chat, "user", "Q2 edited", parent=a1)
    edited_reply = add(user, chat, "assistant", "A2 edited", parent=edited)

    response = browser.post(reverse("show_version", args=[chat.id, q2.id]), **HTMX)

    assert response.status_code == 200
    assert response["HX-Trigger"] == "conversationsChanged"
    listing = html(response)
    assert listing.lstrip().startswith('<div id="message-list"')
    assert "<p>Q2</p>" in listing
    assert "<p>A2</p>" in listing
    assert "Q2 edited" not in listing
    assert versions_of(listing, q2) == "1 / 2"
    assert current(chat) == a2.id  # the newest reply down from Q2

    browser.post(reverse("show_version", args=[chat.id, edited.id]), **HTMX)
    assert current(chat) == edited_reply.id


def test_a_version_button_without_javascript_goes_back_to_the_message(browser, user):
    chat, (q1, a1) = thread(user, "Q1", "A1")
    add(user, chat, "assistant", "A1 again", parent=q1)
    response = browser.post(reverse("show_version", args=[chat.id, a1.id]))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('chat', args=[chat.id])}#m-{a1.seq}"
    assert current(chat) == a1.id
    page = html(browser.get(reverse("chat", args=[chat.id])))
    assert "<p>A1</p>" in page
    assert "A1 again" not in page
    assert versions_of(page, a1) == "1 / 2"


def test_the_chosen_branch_is_kept_for_the_next_visit(browser, user):
    chat, (q1, a1) = thread(user, "Q1", "A1")
    add(user, chat, "assistant", "A1 again", parent=q1)
    browser.post(reverse("show_version", args=[chat.id, a1.id]), **HTMX)
    chat.refresh_from_db()
    assert chat.preview == "A1"
    assert "A1 again" not in html(browser.get(reverse("chat", args=[chat.id])))


# --- other users, unknown ids, CSRF ---------------------------------------------------------


def _message_requests(chat_id, message_id):
    yield "get", reverse("message", args=[chat_id, message_id]), {}
    yield "get", reverse("edit_message", args=[chat_id, message_id]), {}
    yield "post", reverse("edit_message", args=[chat_id, message_id]), {"content": "mine now"}
    yield "post", reverse("regenerate", args=[chat_id, message_id]), {}
    yield "post", reverse("show_version", args=[chat_id, message_id]), {}


@pytest.mark.parametrize("extra", [{}, HTMX, STREAM])
def test_another_users_chat_or_message_is_404(browser, user, other_user, extra):
    theirs, (their_question, their_answer) = thread(other_user, "private Q", "private A")
    mine, (my_question, my_answer) = thread(user, "Q", "A")
    _elsewhere, (other_question, _) = thread(user, "in another chat", "A")
    targets = [
        (theirs.id, their_question.id),  # their chat, their message
        (theirs.id, their_answer.id),
        (mine.id, their_question.id),  # my chat, their message
        (mine.id, their_answer.id),
        (mine.id, other_question.id),  # my chat, a message of my other chat
        (mine.id, uuid.uuid4()),
        (uuid.uuid4(), my_question.id),
    ]
    for chat_id, message_id in targets:
        for method, url, data in _message_requests(chat_id, message_id):
            response = getattr(browser, method)(url, data, **extra)
            assert response.status_code == 404, (method, url)
    assert theirs.messages.count() == 2
    assert mine.messages.count() == 2
    assert current(theirs) == their_answer.id
    assert current(mine) == my_answer.id


def test_a_message_id_that_is_no_uuid_is_404(browser, user):
    chat, _ = thread(user, "Q", "A")
    assert browser.post(f"/chats/{chat.id}/messages/not-a-uuid/regenerate/").status_code == 404


@pytest.mark.parametrize("url_name", ["edit_message", "regenerate", "show_version"])
def test_message_actions_without_csrf_are_refused(user, url_name):
    chat, (question, answer) = thread(user, "Q", "A")
    target = question if url_name == "edit_message" else answer
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse(url_name, args=[chat.id, target.id]), {"content": "x"}, **HTMX)
    assert response.status_code == 403
    assert chat.messages.count() == 2
    assert current(chat) == answer.id


def test_message_actions_need_login(client, user):
    chat, (_question, answer) = thread(user, "Q", "A")
    for method, url, data in _message_requests(chat.id, answer.id):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


# --- query counts -----------------------------------------------------------------------------


def deep_chat(user, *, depth: int) -> tuple[Conversation, list[Message]]:
    """One branch ``depth`` messages long, with a second version of every tenth reply
    (so the window shown has versions to count)."""
    chat = services.create_conversation(user=user, title=f"Depth {depth}")
    messages = services.add_messages(
        user=user,
        conversation_id=chat.id,
        messages=[
            services.NewMessage(role="user" if n % 2 == 0 else "assistant", content=f"m{n}")
            for n in range(depth)
        ],
    )
    for message in messages[1::10]:
        add(user, chat, "assistant", f"again {message.content}", parent=message.parent_id)
    services.switch_branch(user=user, conversation_id=chat.id, message_id=messages[-1].id)
    chat.refresh_from_db()
    return chat, messages


def _count(client, method, url, data=None, **extra) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = getattr(client, method)(url, data or {}, **extra)
        assert response.status_code in (200, 302)
    return len(queries)


def test_the_chat_page_costs_the_same_queries_at_depth_10_and_1000(client, settings):
    settings.NUMINA_RETRIEVE_MESSAGES = 5  # a window shorter than both: "Earlier messages"
    counts: dict[str, list[int]] = {"page": [], "earlier": [], "switch": []}
    for depth in (10, 1000):
        owner = UserFactory()
        client.force_login(owner)
        chat, _messages = deep_chat(owner, depth=depth)
        url = reverse("chat", args=[chat.id])
        page = html(client.get(url))
        assert f"<p>m{depth - 1}</p>" in page
        counts["page"].append(_count(client, "get", url))  # the messages from the cache
        before = re.search(r"\?before=([0-9a-f-]{36})", page).group(1)
        counts["earlier"].append(_count(client, "get", url, {"before": before}))
        other_version = chat.messages.get(content="again m1")  # a leaf: the branch moves
        switch = reverse("show_version", args=[chat.id, other_version.id])
        counts["switch"].append(_count(client, "post", switch, **HTMX))
        assert current(chat) == other_version.id
    assert counts["page"][0] == counts["page"][1], counts
    assert counts["earlier"][0] == counts["earlier"][1], counts
    assert counts["switch"][0] == counts["switch"][1], counts


def test_the_chat_page_on_a_cold_cache_costs_the_same_at_any_depth(client):
    counts = []
    for depth in (10, 1000):
        owner = UserFactory()
        client.force_login(owner)
        chat, _ = deep_chat(owner, depth=depth)
        counts.append(_count(client, "get", reverse("chat", args=[chat.id])))
    assert counts[0] == counts[1]


def test_regenerate_and_edit_need_the_same_queries_at_any_depth(client, claude):
    claude.default = Reply("fresh")
    counts: dict[str, list[int]] = {"regenerate": [], "edit": []}
    for depth in (10, 1000):
        owner = UserFactory()
        client.force_login(owner)
        chat, messages = deep_chat(owner, depth=depth)
        reply = messages[-1] if messages[-1].role == "assistant" else messages[-2]
        question = messages[-2] if reply is messages[-1] else messages[-3]
        counts["regenerate"].append(
            _count(client, "post", reverse("regenerate", args=[chat.id, reply.id]))
        )
        counts["edit"].append(
            _count(
                client,
                "post",
                reverse("edit_message", args=[chat.id, question.id]),
                {"content": "edited"},
            )
        )
    assert counts["regenerate"][0] == counts["regenerate"][1], counts
    assert counts["edit"][0] == counts["edit"][1], counts
