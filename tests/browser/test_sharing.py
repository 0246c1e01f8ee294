"""Sharing and instructions in a real browser (issue 18): share a chat, copy the link,
open it in a fresh browser with no session and read it; stop sharing and the link is
gone. And a chat's instructions saved from its header."""

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)


def test_share_read_the_link_signed_out_then_stop_sharing(
    page, chromium, log_in, live_server, artifacts
):
    user = log_in(page)
    chat = services.create_conversation(user=user, title="Sourdough starter")
    services.add_message(
        user=user, conversation_id=chat.id, role="user", content="How do I feed a **starter**?"
    )
    services.add_message(
        user=user, conversation_id=chat.id, role="assistant", content="Equal parts flour and water."
    )
    services.create_conversation(user=user, title="Another private chat")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.goto(f"{live_server.url}/chats/{chat.id}/")

    page.locator("#chat-share > summary").click()
    page.get_by_role("button", name="Share", exact=True).click()
    link_field = page.get_by_label("Share link")
    expect(link_field).to_be_visible()
    link = link_field.input_value()
    assert link.startswith(f"{live_server.url}/s/")
    expect(page.locator("#shared-badge")).to_have_text("Shared")
    page.get_by_role("button", name="Copy link", exact=True).click()
    expect(page.get_by_text("Copied", exact=True)).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.screenshot(path=str(artifacts / "share-panel.png"))

    # A fresh browser: no cookies, no session.
    stranger = chromium.new_context(viewport={"width": 1280, "height": 800})
    try:
        reader = stranger.new_page()
        response = reader.goto(link)
        assert response is not None
        assert response.status == 200
        assert response.headers["x-robots-tag"] == "noindex"
        expect(reader.get_by_role("heading", name="Sourdough starter")).to_be_visible()
        messages = reader.get_by_role("region", name="Messages")
        expect(messages).to_contain_text("How do I feed a starter?")
        expect(messages.locator("strong")).to_have_text("starter")
        expect(messages).to_contain_text("Equal parts flour and water.")
        # Read-only, and nothing else of the owner's.
        expect(reader.get_by_role("textbox", name="Message")).to_have_count(0)
        expect(reader.get_by_role("button")).to_have_count(0)
        expect(reader.get_by_text("Another private chat")).to_have_count(0)
        expect(reader.get_by_text(user.username)).to_have_count(0)
        reader.screenshot(path=str(artifacts / "shared-page.png"))

        page.get_by_role("button", name="Stop sharing", exact=True).click()
        expect(page.locator("#shared-badge")).to_have_count(0)
        expect(page.get_by_role("button", name="Stop sharing", exact=True)).to_have_count(0)

        gone = reader.reload()
        assert gone is not None
        assert gone.status == 404
        expect(reader.get_by_role("heading", name="This link does not work")).to_be_visible()
        expect(reader.get_by_text("Sourdough starter")).to_have_count(0)
    finally:
        stranger.close()


def test_instructions_saved_from_the_chat_header(page, log_in, live_server):
    user = log_in(page)
    chat = services.create_conversation(user=user, title="Travel")
    page.goto(f"{live_server.url}/chats/{chat.id}/")

    page.locator("#chat-instructions > summary").click()
    page.get_by_label("Instructions").fill("Answer in metric units.")
    page.get_by_role("button", name="Save instructions").click()

    expect(page.get_by_text("Saved", exact=True)).to_be_visible()
    assert Conversation.objects.get(id=chat.id).instructions == "Answer in metric units."
    page.reload()
    page.locator("#chat-instructions > summary").click()
    expect(page.get_by_label("Instructions")).to_have_value("Answer in metric units.")
