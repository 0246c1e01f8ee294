"""Import chats on /account/ in a real browser: a ChatGPT export's chats land in the sidebar."""

import pytest
from playwright.sync_api import expect

from tests.importing import FIXTURES

pytestmark = pytest.mark.django_db(transaction=True)


def import_file(page, live_server, path) -> None:
    page.goto(f"{live_server.url}/account/")
    page.get_by_label("Archive").set_input_files(str(path))
    page.get_by_role("button", name="Import chats").click()


def test_import_chats_with_a_chatgpt_file_shows_its_chats_in_the_sidebar(
    page, log_in, live_server, artifacts
):
    log_in(page)

    import_file(page, live_server, FIXTURES / "chatgpt_conversations.json")

    result = page.get_by_role("status").filter(has_text="Import done")
    expect(result).to_contain_text("Created 2")
    expect(result).to_contain_text("skipped 0")
    page.screenshot(path=str(artifacts / "account-import.png"), full_page=True)
    page.get_by_role("link", name="Back to your chats").click()
    sidebar = page.locator("#chat-list")
    expect(sidebar.get_by_role("link", name="Trip to Lisbon", exact=True)).to_be_visible()
    expect(sidebar.locator("li.chat-item")).to_have_count(2)

    # The same file again: nothing new.
    import_file(page, live_server, FIXTURES / "chatgpt_conversations.json")
    expect(page.get_by_role("status").filter(has_text="Import done")).to_contain_text("skipped 2")


def test_a_large_import_runs_as_a_job_and_the_page_shows_it(
    page, log_in, live_server, settings, eager_tasks
):
    settings.NUMINA_IMPORT_ASYNC_CONVERSATIONS = 1
    log_in(page)

    import_file(page, live_server, FIXTURES / "claude_conversations.json")

    # No worker here: the eager task ran after the upload's commit, so the job the page
    # polls is already done when it loads (its progress is what a pending one shows).
    expect(page.get_by_role("status").filter(has_text="Import done")).to_contain_text("Created 2")


def test_a_bad_file_says_why(page, log_in, live_server, tmp_path):
    log_in(page)
    bad = tmp_path / "photos.json"
    bad.write_text('{"hello": "world"}')

    import_file(page, live_server, bad)

    expect(page.get_by_text("Not a known export format")).to_be_visible()
