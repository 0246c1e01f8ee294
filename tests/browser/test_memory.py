"""Memory in a real browser: tell the assistant your name in a chat (the offline provider
extracts it, tasks run in process), open Memory, see it, edit it, delete it."""

import time

import pytest
from playwright.sync_api import expect

from conversations import llm
from memory.models import MemoryItem
from tests.browser.test_ui import send

pytestmark = pytest.mark.django_db(transaction=True)


def test_tell_your_name_see_it_in_memory_and_delete_it(
    page, log_in, live_server, eager_tasks, settings, artifacts
):
    settings.ANTHROPIC_API_KEY = ""  # the offline provider: its plain patterns
    user = log_in(page)

    send(page, "Hello! My name is Ada and I work as a marine biologist.")
    messages = page.get_by_role("region", name="Messages")
    expect(messages.locator(".role-assistant")).to_contain_text(llm.OFFLINE_REPLY)
    # The extraction runs after the reply's commit, as the title does (in process here,
    # a worker in production): wait for it, as the UI test waits for the title.
    deadline = time.monotonic() + 10
    while not MemoryItem.objects.filter(owner=user).exists() and time.monotonic() < deadline:
        time.sleep(0.1)

    page.get_by_role("link", name="Memory", exact=True).click()
    expect(page.get_by_role("heading", name="Memory")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Use memory")).to_be_checked()
    name = page.get_by_role("listitem", name="Ada", exact=True)
    expect(name).to_contain_text("learnt from a chat")
    expect(page.get_by_role("listitem", name="marine biologist", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "memory-desktop.png"))

    # Edit it in place: it is the user's own from then on.
    name.get_by_role("button", name="Edit memory", exact=True).click()
    field = page.get_by_label("Memory text", exact=True)
    field.fill("Ada Lovelace")
    field.press("Enter")
    edited = page.get_by_role("listitem", name="Ada Lovelace", exact=True)
    expect(edited).to_contain_text("written by you")

    edited.get_by_role("button", name="Delete memory", exact=True).click()
    expect(edited).to_have_count(0)
    assert list(MemoryItem.objects.filter(owner=user).values_list("content", flat=True)) == [
        "marine biologist"
    ]

    # A reload shows the same: it is gone for good.
    page.reload()
    expect(page.get_by_role("listitem", name="Ada Lovelace", exact=True)).to_have_count(0)
    expect(page.get_by_role("listitem", name="marine biologist", exact=True)).to_be_visible()


def test_add_one_and_turn_memory_off(page, log_in, live_server):
    user = log_in(page)
    page.goto(f"{live_server.url}/memory/")

    page.get_by_label("New memory").fill("Prefers metric units")
    page.get_by_role("button", name="Add memory", exact=True).click()
    expect(page.get_by_role("listitem", name="Prefers metric units", exact=True)).to_be_visible()
    expect(page.get_by_label("New memory")).to_have_value("")

    page.get_by_role("checkbox", name="Use memory").uncheck()
    expect(page.get_by_text("Off: nothing is learnt and nothing is sent.")).to_be_visible()
    user.refresh_from_db()
    assert user.memory_enabled is False
    page.reload()
    expect(page.get_by_role("checkbox", name="Use memory")).not_to_be_checked()
