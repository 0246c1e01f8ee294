"""Live updates in a real browser: what one tab does shows in the user's other tabs
without a reload, through the event stream (GET /api/v1/events/), and in nobody else's.

Each tab is a page of one browser context (one session, as two tabs of one browser);
another user's tab is a context of its own. Every wait is Playwright's expect, which
polls the page until the condition holds or its timeout passes: no sleeps.
"""

import re

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation
from tests.browser.test_ui import act, chat_item, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stranger(chromium, log_in):
    """Another user's tab, at their (empty) home page."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    user = log_in(page)
    yield page, user
    context.close()


def open_tab(page, url: str):
    """A second tab of ``page``'s browser (the same session), at ``url``."""
    tab = page.context.new_page()
    tab.goto(url)
    return tab


def link(page, title: str):
    return page.get_by_role("link", name=title, exact=True)


def test_rename_send_and_delete_in_one_tab_show_in_the_other(page, log_in, live_server, stranger):
    user = log_in(page)
    tides = services.create_conversation(user=user, title="Tide tables")
    services.add_message(
        user=user, conversation_id=tides.id, role="user", content="When is high tide?"
    )
    doomed = services.create_conversation(user=user, title="Old shopping list")
    services.create_conversation(user=user, title="Packing list")
    url = f"{live_server.url}/chats/{tides.id}/"
    page.goto(url)
    other = open_tab(page, url)
    stranger_page, stranger_user = stranger
    expect(link(other, "Tide tables")).to_be_visible()

    # A rename in the first tab: the second tab's sidebar entry and heading follow.
    act(page, "Tide tables", "Rename")
    field = page.get_by_label("Title")
    field.fill("Tides at Brest")
    field.press("Enter")
    expect(link(other, "Tides at Brest")).to_be_visible()
    expect(other.get_by_role("heading", name="Tides at Brest")).to_be_visible()
    expect(link(other, "Tide tables")).to_have_count(0)
    expect(other).to_have_title(re.compile("^Tides at Brest"))

    # A message sent in the first tab: the second tab shows it and the reply, once
    # each, below what it already showed, and the entry's preview follows.
    send(page, "And the tidal range at spring tide?")
    expect(page.locator("#messages .role-assistant")).to_have_count(1)
    shown = other.get_by_role("region", name="Messages")
    expect(shown.locator(".role-user")).to_have_count(2)
    expect(shown.locator(".role-user").last).to_contain_text("tidal range at spring tide")
    expect(shown.locator(".role-assistant")).to_have_count(1)
    expect(chat_item(other, "Tides at Brest").locator(".preview")).to_contain_text(
        re.compile(r"\S")
    )
    # The message's Edit button works there as on any message the page rendered.
    expect(shown.locator(".role-user").last.get_by_role("button", name="Edit")).to_be_visible()
    # The tab that sent it shows it once too: its own reply is not added again.
    expect(page.locator("#messages .role-user")).to_have_count(2)
    expect(page.locator("#messages article[data-message-id]")).to_have_count(3)

    # A pin, then an archive, in the first tab: the entry moves to the top of the second
    # tab's list (the server's order, pinned first), then leaves it.
    act(page, "Packing list", "Pin")
    first = other.locator("#chat-list li.chat-item").first
    expect(first.get_by_role("link", name="Packing list", exact=True)).to_be_visible()
    act(page, "Packing list", "Archive")
    expect(link(other, "Packing list")).to_have_count(0)

    # A delete in the first tab: gone from the second tab's list.
    page.once("dialog", lambda dialog: dialog.accept())
    act(page, "Old shopping list", "Delete")
    expect(link(other, "Old shopping list")).to_have_count(0)
    expect(link(other, "Tides at Brest")).to_be_visible()
    doomed.refresh_from_db()
    assert doomed.trashed_at is not None  # in the trash: Delete moves it there

    # Nothing of it reached another user's tab; their own change does (their stream
    # is live), and only it.
    services.create_conversation(user=stranger_user, title="Stranger's own chat")
    expect(link(stranger_page, "Stranger's own chat")).to_be_visible()
    for title in ["Tide tables", "Tides at Brest", "Old shopping list", "Packing list"]:
        expect(link(stranger_page, title)).to_have_count(0)
    expect(stranger_page.get_by_text("tidal range")).to_have_count(0)


def test_the_open_chat_deleted_elsewhere_says_so(page, log_in, live_server):
    user = log_in(page)
    chat = services.create_conversation(user=user, title="Short-lived")
    page.goto(f"{live_server.url}/chats/{chat.id}/")
    expect(page.get_by_role("heading", name="Short-lived")).to_be_visible()
    services.delete_conversation(user=user, conversation_id=chat.id)
    expect(page.get_by_role("status")).to_contain_text("This chat was deleted")
    expect(link(page, "Short-lived")).to_have_count(0)
    expect(page.get_by_role("textbox", name="Message")).to_be_disabled()


def test_the_generated_title_arrives_without_polling(page, log_in, live_server, eager_tasks):
    log_in(page)
    title_requests = []
    page.on("request", lambda request: "/title/" in request.url and title_requests.append(request))
    other = open_tab(page, f"{live_server.url}/")
    send(page, "How do lighthouses get their beams so far?")
    expect(page).to_have_url(re.compile(r"/chats/[0-9a-f-]{36}/$"))
    # The worker's title (the offline provider's: the first message) reaches the
    # heading of the tab that sent it and the other tab's sidebar.
    title = "How do lighthouses get their beams so far?"
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    expect(link(other, title)).to_be_visible()
    assert not [request for request in title_requests if "polls=" in request.url]


def test_changes_made_elsewhere_while_typing_a_rename_keep_it(page, log_in, live_server):
    """A sidebar reload from the stream keeps an inline rename being typed, and focus."""
    user = log_in(page)
    mine = services.create_conversation(user=user, title="Being renamed")
    page.reload()
    act(page, "Being renamed", "Rename")
    field = page.get_by_label("Title")
    field.fill("Half-typed")
    services.create_conversation(user=user, title="Made on the phone")
    expect(link(page, "Made on the phone")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Half-typed")
    expect(page.get_by_label("Title")).to_be_focused()
    page.get_by_label("Title").press("Enter")
    expect(link(page, "Half-typed")).to_be_visible()
    assert Conversation.objects.get(pk=mine.pk).title == "Half-typed"


# Keeps each EventSource the page makes within reach of the test, which can then drop
# one the way a network failure does: closed, and an ``error`` event.
KEEP_EVENT_SOURCES = """
window.__eventSources = [];
window.EventSource = class extends window.EventSource {
  constructor(...args) { super(...args); window.__eventSources.push(this); }
};
"""
DROP_STREAM = """() => {
  const source = window.__eventSources.at(-1);
  source.close();
  source.dispatchEvent(new Event("error"));
}"""


def test_a_dropped_stream_reconnects_and_catches_up(page, log_in, live_server):
    user = log_in(page)
    chat = services.create_conversation(user=user, title="Before the drop")
    services.add_message(user=user, conversation_id=chat.id, role="user", content="First words")
    page.add_init_script(KEEP_EVENT_SOURCES)
    streams = []
    page.on("request", lambda r: "/api/v1/events/" in r.url and streams.append(r.url))
    page.goto(f"{live_server.url}/chats/{chat.id}/")
    expect(link(page, "Before the drop")).to_be_visible()
    services.rename_conversation(user=user, conversation_id=chat.id, title="Seen live")
    expect(link(page, "Seen live")).to_be_visible()

    # The stream drops and cannot come back for now (the network is down)…
    page.route("**/api/v1/events/**", lambda route: route.abort("internetdisconnected"))
    page.evaluate(DROP_STREAM)
    # … while a change is made elsewhere: a rename and a message.
    services.rename_conversation(user=user, conversation_id=chat.id, title="Made while away")
    services.add_message(
        user=user, conversation_id=chat.id, role="user", content="Written on the phone"
    )
    assert not link(page, "Made while away").count()
    # The network is back: the stream resumes from the last event it saw and the
    # changes show, each once.
    page.unroute("**/api/v1/events/**")
    expect(link(page, "Made while away")).to_be_visible()
    expect(page.get_by_role("heading", name="Made while away")).to_be_visible()
    expect(page.locator("#messages .role-user")).to_have_count(2)
    expect(page.locator("#messages .role-user").last).to_contain_text("Written on the phone")
    assert "since=" in streams[-1]


def test_an_action_of_the_pages_own_while_typing_a_rename_keeps_it(page, log_in, live_server):
    """The page's own actions (conversationsChanged) reload the sidebar through the same
    door as the stream, so a rename being typed in another entry is kept."""
    user = log_in(page)
    services.create_conversation(user=user, title="Pinned meanwhile")
    mine = services.create_conversation(user=user, title="Being renamed")
    page.reload()
    act(page, "Being renamed", "Rename")
    page.get_by_label("Title").fill("Half-typed")
    act(page, "Pinned meanwhile", "Pin")
    pinned = page.locator("#chat-list li.chat-item").first
    expect(pinned.get_by_role("link", name="Pinned meanwhile", exact=True)).to_be_visible()
    # The menu the Pin was chosen from closed; the rename is as it was.
    expect(pinned.locator("details.chat-actions")).not_to_have_attribute("open", "")
    expect(page.get_by_label("Title")).to_have_value("Half-typed")
    page.get_by_label("Title").press("Enter")
    expect(link(page, "Half-typed")).to_be_visible()
    assert Conversation.objects.get(pk=mine.pk).title == "Half-typed"
