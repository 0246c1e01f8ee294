"""Organising chats in a real browser (with htmx): Select three chats and archive them at
once; give one a tag in its actions menu and narrow the sidebar to it with Filter by tag;
search past the first results; find a word in the open chat."""

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation
from tests.browser.test_ui import chat_item

pytestmark = pytest.mark.django_db(transaction=True)


def test_select_three_chats_and_archive_them(page, log_in, live_server, artifacts):
    user = log_in(page)
    chats = [services.create_conversation(user=user, title=f"Chat {n}") for n in range(4)]
    page.goto(f"{live_server.url}/")
    sidebar = page.get_by_role("complementary", name="Chats")

    sidebar.get_by_role("link", name="Select", exact=True).click()
    for n in range(3):
        sidebar.get_by_role("checkbox", name=f"Chat {n}", exact=True).check()
    page.screenshot(path=str(artifacts / "select-desktop.png"))
    sidebar.get_by_role("button", name="Archive selected", exact=True).click()

    for n in range(3):
        expect(sidebar.get_by_role("link", name=f"Chat {n}", exact=True)).to_have_count(0)
    expect(sidebar.get_by_role("link", name="Chat 3", exact=True)).to_be_visible()
    expect(sidebar.get_by_role("checkbox")).to_have_count(0)  # selecting is over
    assert [Conversation.objects.get(pk=c.pk).is_archived for c in chats] == [
        True,
        True,
        True,
        False,
    ]
    sidebar.get_by_role("link", name="Archived", exact=True).click()
    for n in range(3):
        expect(sidebar.get_by_role("link", name=f"Chat {n}", exact=True)).to_be_visible()


def test_tag_a_chat_and_filter_by_the_tag(page, log_in, live_server, artifacts):
    user = log_in(page)
    services.create_conversation(user=user, title="Trip to Lisbon")
    services.create_conversation(user=user, title="Tax return", tags=["admin"])
    page.goto(f"{live_server.url}/")
    sidebar = page.get_by_role("complementary", name="Chats")

    item = chat_item(page, "Trip to Lisbon")
    item.locator("summary").click()
    tags = item.get_by_role("textbox", name="Tags", exact=True)
    tags.fill("travel, 2027")
    item.get_by_role("button", name="Save tags", exact=True).click()

    expect(chat_item(page, "Trip to Lisbon")).to_contain_text("2027")
    expect(chat_item(page, "Trip to Lisbon")).to_contain_text("travel")
    sidebar.get_by_label("Filter by tag").select_option("travel")
    expect(sidebar.get_by_role("link", name="Tax return", exact=True)).to_have_count(0)
    expect(sidebar.get_by_role("link", name="Trip to Lisbon", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "filter-by-tag-desktop.png"))

    sidebar.get_by_label("Filter by tag").select_option("")
    expect(sidebar.get_by_role("link", name="Tax return", exact=True)).to_be_visible()


def test_tag_selected_on_a_searched_list(page, log_in, live_server):
    user = log_in(page)
    for title in ("Heron notes", "Heron photos", "Kiwi notes"):
        services.create_conversation(user=user, title=title)
    page.goto(f"{live_server.url}/")
    sidebar = page.get_by_role("complementary", name="Chats")
    sidebar.get_by_role("searchbox", name="Search chats").fill("heron")
    expect(sidebar.get_by_role("link", name="Kiwi notes", exact=True)).to_have_count(0)

    sidebar.get_by_role("link", name="Select", exact=True).click()
    sidebar.get_by_role("checkbox", name="Heron notes", exact=True).check()
    sidebar.get_by_role("checkbox", name="Heron photos", exact=True).check()
    sidebar.get_by_label("Tags to add").fill("birds")
    sidebar.get_by_role("button", name="Tag selected", exact=True).click()

    expect(sidebar.get_by_role("checkbox")).to_have_count(0)
    expect(chat_item(page, "Heron notes")).to_contain_text("birds")
    expect(chat_item(page, "Heron photos")).to_contain_text("birds")
    tagged = {c.title for c in Conversation.objects.filter(owner=user, tags__name="birds")}
    assert tagged == {"Heron notes", "Heron photos"}


def test_find_in_chat_jumps_to_the_matching_message(page, log_in, live_server, artifacts):
    user = log_in(page)
    chat = services.create_conversation(user=user, title="Long chat")
    services.add_messages(
        user=user,
        conversation_id=chat.id,
        messages=[
            services.NewMessage(
                role="user",
                content="Where do herons nest?" if n == 2 else f"Note {n} about kiwis",
            )
            for n in range(70)
        ],
    )
    page.goto(f"{live_server.url}/chats/{chat.id}/")
    messages = page.get_by_role("region", name="Messages")
    expect(messages).not_to_contain_text("Where do herons nest?")  # not among the newest

    find = page.get_by_role("searchbox", name="Find in chat", exact=True)
    find.fill("heron")
    find.press("Enter")

    found = page.locator("article#m-3")
    expect(found).to_contain_text("Where do herons nest?")
    expect(found).to_be_in_viewport()
    assert page.url.endswith("#m-3")
    page.screenshot(path=str(artifacts / "find-in-chat-desktop.png"))
    page.get_by_role("link", name="Newest messages", exact=True).click()
    expect(messages).to_contain_text("Note 69 about kiwis")


def test_search_shows_more_results_past_the_first_twenty(page, log_in, live_server):
    user = log_in(page)
    for n in range(24):
        services.create_conversation(user=user, title=f"Heron {n:02}")
    page.goto(f"{live_server.url}/")
    sidebar = page.get_by_role("complementary", name="Chats")
    sidebar.get_by_role("searchbox", name="Search chats").fill("heron")
    expect(sidebar.get_by_role("link", name="Heron 23", exact=True)).to_be_visible()
    expect(sidebar.get_by_role("link", name="Heron 00", exact=True)).to_have_count(0)

    sidebar.get_by_role("link", name="More results", exact=True).click()

    for n in range(4):
        expect(sidebar.get_by_role("link", name=f"Heron {n:02}", exact=True)).to_be_visible()
    expect(sidebar.get_by_role("link", name="More results", exact=True)).to_have_count(0)
