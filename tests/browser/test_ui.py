"""The browser UI in a real browser, found by the accessible names of UI.md."""

import re

import pytest
from playwright.sync_api import expect

from conversations import llm, services
from conversations.models import Conversation
from tests.fake_anthropic import Fail, Stream

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = "How does chlorophyll turn sunlight into sugar?"


def chat_item(page, title: str):
    """The sidebar entry whose link is named ``title``."""
    return page.locator("#chat-list li.chat-item").filter(
        has=page.get_by_role("link", name=title, exact=True)
    )


def act(page, title: str, action: str) -> None:
    """Open a chat's actions menu in the sidebar and choose one."""
    item = chat_item(page, title)
    item.locator("summary").click()
    item.get_by_role("button", name=action, exact=True).click()


def send(page, text: str) -> None:
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")


def test_sign_up_chat_rename_archive_search_delete(page, live_server, eager_tasks, artifacts):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password", exact=True).fill("analytical-engine-1843")
    page.get_by_label("Password confirmation").fill("analytical-engine-1843")
    page.screenshot(path=str(artifacts / "signup-desktop.png"))
    page.get_by_role("button", name="Sign up").click()

    # Send with Enter: the message, then the assistant's reply (the offline provider
    # here, marked as such), then the worker's title, all without a reload.
    send(page, MESSAGE)
    messages = page.get_by_role("region", name="Messages")
    expect(messages.locator(".role-user")).to_contain_text(MESSAGE)
    expect(messages.locator(".role-assistant")).to_contain_text(llm.OFFLINE_REPLY)
    expect(messages.locator(".role-assistant .badge")).to_have_text("Offline")
    expect(page.get_by_text("Assistant offline", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/chats/[0-9a-f-]{36}/$"))
    expect(page.get_by_role("textbox", name="Message")).to_have_value("")
    expect(page.get_by_role("heading", name=MESSAGE)).to_be_visible()
    expect(page.get_by_role("link", name=MESSAGE, exact=True)).to_be_visible()

    # Rename inline: the Title field, Enter saves.
    act(page, MESSAGE, "Rename")
    field = page.get_by_label("Title")
    field.fill("Photosynthesis")
    field.press("Enter")
    expect(page.get_by_role("link", name="Photosynthesis", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Photosynthesis")).to_be_visible()

    # Archive: gone from the list, found under Archived, unarchived back.
    act(page, "Photosynthesis", "Archive")
    expect(page.get_by_role("link", name="Photosynthesis", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Archived").click()
    expect(page.get_by_role("link", name="Photosynthesis", exact=True)).to_be_visible()
    act(page, "Photosynthesis", "Unarchive")
    expect(page.get_by_role("link", name="Photosynthesis", exact=True)).to_have_count(0)
    page.get_by_role("link", name="Chats", exact=True).click()
    expect(page.get_by_role("link", name="Photosynthesis", exact=True)).to_be_visible()

    # Search by a word of the message: the chat and a snippet with the word marked.
    page.get_by_role("searchbox", name="Search chats").fill("chlorophyll")
    expect(page.locator(".snippet mark").first).to_have_text(re.compile("chlorophyll", re.I))
    expect(page.get_by_role("link", name="Photosynthesis", exact=True).first).to_be_visible()
    page.screenshot(path=str(artifacts / "search-desktop.png"))
    page.get_by_role("searchbox", name="Search chats").fill("")
    expect(page.get_by_role("link", name="Archived")).to_be_visible()

    # Delete asks first (saying it can be restored); then the chat is gone from the
    # sidebar, into the trash, and the page goes home.
    asked: list[str] = []

    def accept(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    act(page, "Photosynthesis", "Delete")
    expect(page.get_by_role("link", name="Photosynthesis", exact=True)).to_have_count(0)
    expect(page).to_have_url(f"{live_server.url}/")
    assert asked == ["Delete “Photosynthesis”? It moves to the trash, where you can restore it."]
    assert not Conversation.objects.untrashed().filter(owner__username="ada").exists()


def test_title_with_markup_shows_as_text(page, log_in, live_server):
    user = log_in(page)
    nasty = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    chat = services.create_conversation(user=user, title=nasty)
    services.add_message(user=user, conversation_id=chat.id, role="user", content=nasty)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}/chats/{chat.id}/")
    expect(page.get_by_role("link", name=nasty, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=nasty)).to_be_visible()
    assert page.evaluate("window.pwned") is None
    assert page.locator("img[onerror]").count() == 0
    assert dialogs == []


def test_rename_escape_cancels(page, log_in):
    user = log_in(page)
    services.create_conversation(user=user, title="Keep me")
    page.reload()
    act(page, "Keep me", "Rename")
    field = page.get_by_label("Title")
    field.fill("Changed my mind")
    field.press("Escape")
    expect(page.get_by_role("link", name="Keep me", exact=True)).to_be_visible()
    assert Conversation.objects.get(owner=user).title == "Keep me"


def test_shift_enter_is_a_newline_and_a_failed_send_keeps_the_text(page, log_in):
    log_in(page)
    composer = page.get_by_role("textbox", name="Message")
    composer.fill("first line")
    composer.press("Shift+Enter")
    composer.type("second line")
    expect(composer).to_have_value("first line\nsecond line")
    page.route("**/send/", lambda route: route.abort())
    composer.press("Enter")
    expect(page.locator("#composer-error")).to_contain_text("could not be reached")
    expect(composer).to_have_value("first line\nsecond line")


def test_markdown_renders_code_and_drops_scripts(page, log_in, live_server):
    user = log_in(page)
    chat = services.create_conversation(user=user, title="Code")
    services.add_message(
        user=user,
        conversation_id=chat.id,
        role="assistant",
        content="Here:\n\n```python\nprint('hi')\n```\n\n"
        "[x](javascript:alert(1)) <b onclick=alert(1)>b</b>",
    )
    page.goto(f"{live_server.url}/chats/{chat.id}/")
    expect(page.locator(".message-body pre code")).to_have_text("print('hi')")
    assert page.locator("[onclick]").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0


def test_phone_width_screenshots(phone, log_in, live_server, artifacts):
    user = log_in(phone)
    chat = services.create_conversation(user=user, title="Sourdough starter")
    for role, content in [
        ("user", "My starter smells like nail polish. Is it ruined?"),
        (
            "assistant",
            "Not at all — that sharp smell is **acetone-like** and means the yeast is hungry.\n\n"
            "1. Feed it twice a day at 1:1:1.\n2. Keep it warm, around 24 °C.\n\n"
            "```text\n50 g starter + 50 g flour + 50 g water\n```",
        ),
        ("user", "Thanks! How long until it recovers?"),
    ]:
        services.add_message(user=user, conversation_id=chat.id, role=role, content=content)
    for n in range(6):
        services.create_conversation(user=user, title=f"Older chat {n}")
    phone.goto(f"{live_server.url}/chats/{chat.id}/")
    expect(phone.get_by_role("heading", name="Sourdough starter")).to_be_visible()
    expect(phone.get_by_role("textbox", name="Message")).to_be_visible()
    phone.screenshot(path=str(artifacts / "chat-phone.png"))
    phone.get_by_role("link", name="Show chats").click()
    expect(phone.get_by_role("button", name="New chat")).to_be_in_viewport()
    phone.screenshot(path=str(artifacts / "sidebar-phone.png"))
    assert (artifacts / "chat-phone.png").stat().st_size > 0


def test_desktop_screenshot(page, log_in, live_server, artifacts):
    user = log_in(page)
    pinned = services.create_conversation(user=user, title="Reading list", is_pinned=True)
    services.add_message(user=user, conversation_id=pinned.id, role="user", content="Books?")
    chat = services.create_conversation(user=user, title="Trip to Lisbon")
    services.add_message(
        user=user, conversation_id=chat.id, role="user", content="Three days in Lisbon?"
    )
    services.add_message(
        user=user,
        conversation_id=chat.id,
        role="assistant",
        content="**Day 1** — Alfama and the castle.\n\n**Day 2** — Belém.\n\n**Day 3** — Sintra.",
    )
    page.goto(f"{live_server.url}/chats/{chat.id}/")
    expect(page.get_by_role("link", name="Trip to Lisbon", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "chat-desktop.png"))
    chat_item(page, "Trip to Lisbon").locator("summary").click()
    expect(page.get_by_role("button", name="Archive")).to_be_visible()
    page.screenshot(path=str(artifacts / "menu-desktop.png"))


def test_claudes_reply_streams_in_as_markdown(page, log_in, claude):
    claude.answer(Stream(chunks=["Use **", "light", "**:\n\n", "```\nCO2 + H2O\n```"]))
    log_in(page)
    send(page, "How do plants eat?")
    reply = page.locator("#messages .role-assistant")
    expect(reply.locator("strong")).to_have_text("light")
    expect(reply.locator("pre code")).to_have_text("CO2 + H2O")
    expect(reply.locator(".badge")).to_have_count(0)
    expect(page.get_by_text("Assistant offline", exact=True)).to_have_count(0)


def test_a_model_failure_keeps_the_message_and_says_so(page, log_in, claude):
    claude.default = Fail(400)
    user = log_in(page)
    send(page, "Anyone there?")
    expect(page.locator("#messages .role-user")).to_contain_text("Anyone there?")
    expect(page.locator("#messages .is-error")).to_contain_text("Your message is saved")
    assert Conversation.objects.get(owner=user).messages.filter(role="user").count() == 1


def test_the_sidebar_loads_more_chats_on_scroll(page, log_in, live_server, settings):
    settings.NUMINA_PAGE_SIZE = 10
    user = log_in(page)
    for n in range(35):
        services.create_conversation(user=user, title=f"Chat number {n}")
    page.reload()
    oldest = page.get_by_role("link", name="Chat number 0", exact=True)
    expect(oldest).to_have_count(0)
    for _ in range(6):  # each page's last entry asks for the next as it scrolls into view
        page.locator("#chat-list li").last.scroll_into_view_if_needed()
        if oldest.count():
            break
        page.wait_for_timeout(300)
    expect(oldest).to_be_visible()
    expect(page.locator("#chat-list li.chat-item")).to_have_count(35)


def test_actions_menu_works_from_the_keyboard(page, log_in):
    user = log_in(page)
    services.create_conversation(user=user, title="Keyboard only")
    page.reload()
    chat_item(page, "Keyboard only").get_by_role("link").focus()
    page.keyboard.press("Tab")  # the actions menu's toggle
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Rename")).to_be_focused()
    page.keyboard.press("Enter")
    field = page.get_by_label("Title")
    expect(field).to_be_focused()
    field.fill("Renamed by keyboard")
    field.press("Enter")
    expect(page.get_by_role("link", name="Renamed by keyboard", exact=True)).to_be_visible()


def test_everything_works_without_javascript(chromium, live_server):
    context = chromium.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        page.goto(f"{live_server.url}/accounts/signup/")
        page.get_by_label("Username").fill("nojs")
        page.get_by_label("Password", exact=True).fill("plain-forms-only-2026")
        page.get_by_label("Password confirmation").fill("plain-forms-only-2026")
        page.get_by_role("button", name="Sign up").click()

        page.get_by_role("textbox", name="Message").fill("A message without scripts")
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#messages .role-user")).to_contain_text("A message without scripts")
        expect(page.locator("#messages .role-assistant")).to_contain_text(llm.OFFLINE_REPLY)
        title = Conversation.objects.get(owner__username="nojs").display_title

        act(page, title, "Rename")
        page.get_by_label("Title").fill("Plain forms")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("link", name="Plain forms", exact=True)).to_be_visible()

        act(page, "Plain forms", "Archive")
        page.get_by_role("link", name="Archived").click()
        act(page, "Plain forms", "Unarchive")

        page.get_by_role("searchbox", name="Search chats").fill("scripts")
        page.get_by_role("searchbox", name="Search chats").press("Enter")
        expect(page.locator(".snippet mark").first).to_have_text("scripts")

        act(page, "Plain forms", "Delete")
        expect(page.get_by_role("heading", name="Delete “Plain forms”?")).to_be_visible()
        page.get_by_role("main").get_by_role("button", name="Delete").click()
        expect(page.get_by_role("link", name="Plain forms", exact=True)).to_have_count(0)
        assert not Conversation.objects.untrashed().filter(owner__username="nojs").exists()

        # The trash, with plain forms: Restore brings it back; Delete forever asks on
        # a page of its own, then it is gone for good.
        page.get_by_role("link", name="Trash", exact=True).click()
        trashed = page.get_by_role("listitem", name="Plain forms")
        trashed.get_by_role("button", name="Restore", exact=True).click()
        expect(page.get_by_text("“Plain forms” is back in your chats.")).to_be_visible()
        expect(page.get_by_role("link", name="Plain forms", exact=True)).to_be_visible()
        act(page, "Plain forms", "Delete")
        page.get_by_role("main").get_by_role("button", name="Delete").click()
        page.get_by_role("link", name="Trash", exact=True).click()
        trashed.get_by_role("button", name="Delete forever", exact=True).click()
        expect(page.get_by_role("heading", name="Delete “Plain forms” forever?")).to_be_visible()
        page.get_by_role("main").get_by_role("button", name="Delete forever").click()
        expect(page.get_by_text("The trash is empty.")).to_be_visible()
        assert not Conversation.objects.filter(owner__username="nojs").exists()
    finally:
        context.close()
