"""The trash in a real browser (with htmx): delete a chat, find it in Trash, Restore it,
and it is back in the sidebar; Delete forever asks, then it is gone."""

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation
from tests.browser.test_ui import act

pytestmark = pytest.mark.django_db(transaction=True)


def test_delete_find_it_in_the_trash_restore_it_back_in_the_sidebar(
    page, log_in, live_server, artifacts
):
    user = log_in(page)
    kept = services.create_conversation(user=user, title="Kept chat")
    services.add_message(user=user, conversation_id=kept.id, role="user", content="hello")
    services.create_conversation(user=user, title="Doomed chat")
    page.goto(f"{live_server.url}/chats/{kept.id}/")
    sidebar_link = page.get_by_role("link", name="Kept chat", exact=True)
    expect(sidebar_link).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    act(page, "Kept chat", "Delete")
    expect(sidebar_link).to_have_count(0)

    page.get_by_role("link", name="Trash", exact=True).click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    row = page.get_by_role("listitem", name="Kept chat")
    expect(row).to_contain_text("1 message")
    page.screenshot(path=str(artifacts / "trash-desktop.png"))
    row.get_by_role("button", name="Restore", exact=True).click()
    # The row leaves the trash and the sidebar reloads with the chat back in it.
    expect(row).to_have_count(0)
    expect(page.get_by_role("link", name="Kept chat", exact=True)).to_be_visible()
    assert Conversation.objects.get(id=kept.id).trashed_at is None

    page.get_by_role("link", name="Kept chat", exact=True).click()
    expect(page.get_by_role("region", name="Messages")).to_contain_text("hello")


def test_delete_forever_asks_then_it_is_gone(page, log_in, live_server):
    user = log_in(page)
    doomed = services.create_conversation(user=user, title="Doomed chat")
    services.trash_conversation(user=user, conversation_id=doomed.id)
    page.goto(f"{live_server.url}/trash/")
    row = page.get_by_role("listitem", name="Doomed chat")

    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Delete forever", exact=True).click()
    expect(row).to_be_visible()
    assert Conversation.objects.filter(id=doomed.id).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete forever", exact=True).click()
    expect(row).to_have_count(0)
    assert not Conversation.objects.filter(id=doomed.id).exists()
