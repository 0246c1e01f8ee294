"""Branches in a real browser: edit a message, regenerate a reply, step between versions,
found by the accessible names of UI.md (Edit, Edited message, Save and send, Regenerate,
Previous version, Next version and the "2 / 3" between them)."""

import pytest
from playwright.sync_api import expect

from conversations import services
from conversations.models import Conversation
from tests.fake_anthropic import Reply, Stream

pytestmark = pytest.mark.django_db(transaction=True)


def send(page, text: str) -> None:
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")


def message(page, text: str):
    """The message (an article of the Messages region) that says ``text``."""
    return (
        page.get_by_role("region", name="Messages").locator("article.message").filter(has_text=text)
    )


def answered(page, text: str) -> None:
    """Wait until the reply ``text`` is stored and shown as such (with its Regenerate),
    not only streamed in."""
    expect(message(page, text).get_by_role("button", name="Regenerate")).to_be_visible()


def shown_texts(page) -> list[str]:
    return [
        text.strip()
        for text in page.locator("#message-list article.message .message-body").all_inner_texts()
    ]


def test_edit_step_back_regenerate_and_reload(page, log_in, claude, artifacts):
    claude.answer(
        Stream(chunks=["Light, water ", "and CO2."]),
        Stream(chunks=["About ", "an hour."]),
        Stream(chunks=["Mostly ", "in leaves."]),
        Stream(chunks=["Green ", "light is reflected."]),
    )
    user = log_in(page)
    send(page, "How do plants make sugar?")
    answered(page, "Light, water and CO2.")
    send(page, "How long does it take?")
    answered(page, "About an hour.")
    original = [
        "How do plants make sugar?",
        "Light, water and CO2.",
        "How long does it take?",
        "About an hour.",
    ]
    expect(page.locator("#message-list article.message")).to_have_count(4)
    # One version of everything so far: no version buttons yet.
    expect(page.get_by_role("button", name="Previous version")).to_have_count(0)

    # Edit the first message inline: the field is filled with its text; Save and send
    # sends the new version and its reply streams in. What followed the old version
    # leaves the page (it is kept, on the other branch).
    first = message(page, "How do plants make sugar?")
    first.get_by_role("button", name="Edit").click()
    field = page.get_by_label("Edited message")
    expect(field).to_have_value("How do plants make sugar?")
    expect(field).to_be_focused()
    field.fill("Where in the plant is sugar made?")
    page.screenshot(path=str(artifacts / "branch-editing-desktop.png"))
    page.get_by_role("button", name="Save and send").click()
    answered(page, "Mostly in leaves.")
    expect(page.get_by_text("How long does it take?")).to_have_count(0)
    assert shown_texts(page) == ["Where in the plant is sugar made?", "Mostly in leaves."]
    edited = message(page, "Where in the plant is sugar made?")
    expect(edited.get_by_text("2 / 2", exact=True)).to_be_visible()
    expect(edited.get_by_role("button", name="Next version")).to_be_disabled()
    page.screenshot(path=str(artifacts / "branch-edited-desktop.png"))

    # Previous version: the original thread, whole, without a reload.
    page.evaluate("window.notReloaded = true")
    edited.get_by_role("button", name="Previous version").click()
    expect(message(page, "About an hour.")).to_be_visible()
    assert shown_texts(page) == original
    back = message(page, "How do plants make sugar?")
    expect(back.get_by_text("1 / 2", exact=True)).to_be_visible()
    expect(back.get_by_role("button", name="Previous version")).to_be_disabled()
    expect(back.get_by_role("button", name="Next version")).to_be_focused()
    assert page.evaluate("window.notReloaded") is True

    # Regenerate the last reply: a new version streams in beside the old one.
    message(page, "About an hour.").get_by_role("button", name="Regenerate").click()
    answered(page, "Green light is reflected.")
    expect(page.get_by_text("About an hour.")).to_have_count(0)
    regenerated = message(page, "Green light is reflected.")
    expect(regenerated.get_by_text("2 / 2", exact=True)).to_be_visible()
    assert page.evaluate("window.notReloaded") is True

    # Reload: the branch chosen is the one shown.
    page.reload()
    expect(message(page, "Green light is reflected.")).to_be_visible()
    assert shown_texts(page) == [*original[:3], "Green light is reflected."]
    expect(message(page, "How do plants make sugar?").get_by_text("1 / 2")).to_be_visible()
    page.screenshot(path=str(artifacts / "branch-regenerated-desktop.png"))

    # And the older reply is one step back, through its own buttons.
    message(page, "Green light is reflected.").get_by_role(
        "button", name="Previous version"
    ).click()
    expect(message(page, "About an hour.")).to_be_visible()
    chat = Conversation.objects.get(owner=user)
    assert chat.messages.count() == 7  # nothing was overwritten
    assert chat.current_message.content == "About an hour."


def test_escape_cancels_an_edit_and_a_refused_edit_keeps_the_text(page, log_in, live_server):
    user = log_in(page)
    chat = services.create_conversation(user=user, title="Cancel me")
    services.add_message(user=user, conversation_id=chat.id, role="user", content="Keep this")
    services.add_message(user=user, conversation_id=chat.id, role="assistant", content="Kept")
    page.goto(f"{live_server.url}/chats/{chat.id}/")

    message(page, "Keep this").get_by_role("button", name="Edit").click()
    field = page.get_by_label("Edited message")
    field.fill("Changed my mind")
    field.press("Escape")
    expect(page.get_by_label("Edited message")).to_have_count(0)
    expect(message(page, "Keep this")).to_be_visible()

    # A refused send (here: the network fails) keeps the field and what was typed.
    message(page, "Keep this").get_by_role("button", name="Edit").click()
    page.route("**/edit/", lambda route: route.abort())
    page.get_by_label("Edited message").fill("Try this instead")
    page.get_by_role("button", name="Save and send").click()
    expect(page.locator(".edit-form .field-error")).to_contain_text("could not be reached")
    expect(page.get_by_label("Edited message")).to_have_value("Try this instead")
    assert chat.messages.count() == 2


def test_branches_work_without_javascript(chromium, live_server, claude):
    from tests.browser.conftest import PASSWORD
    from tests.factories import UserFactory

    claude.default = Reply("A plain reply")
    user = UserFactory()
    chat = services.create_conversation(user=user, title="No scripts")
    question = services.add_message(
        user=user, conversation_id=chat.id, role="user", content="First words"
    ).message
    services.add_message(user=user, conversation_id=chat.id, role="assistant", content="Reply one")
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.goto(f"{live_server.url}/chats/{chat.id}/")

        # Edit opens a page with the field; Save and send comes back to the chat.
        message(page, "First words").get_by_role("button", name="Edit").click()
        page.get_by_label("Edited message").fill("   ")
        page.get_by_role("button", name="Save and send").click()
        expect(page.locator(".edit-form [role=alert]")).to_contain_text("blank")
        assert chat.messages.count() == 2
        page.get_by_label("Edited message").fill("Better words")
        page.get_by_role("button", name="Save and send").click()
        expect(message(page, "A plain reply")).to_be_visible()
        expect(page.get_by_text("First words")).to_have_count(0)
        expect(message(page, "Better words").get_by_text("2 / 2")).to_be_visible()

        message(page, "Better words").get_by_role("button", name="Previous version").click()
        expect(message(page, "Reply one")).to_be_visible()
        expect(message(page, "First words").get_by_text("1 / 2")).to_be_visible()

        message(page, "Reply one").get_by_role("button", name="Regenerate").click()
        expect(message(page, "A plain reply")).to_be_visible()
        expect(page.get_by_text("Reply one")).to_have_count(0)
        expect(message(page, "A plain reply").get_by_text("2 / 2")).to_be_visible()
        chat.refresh_from_db()
        assert chat.current_message.parent_id == question.id
    finally:
        context.close()
