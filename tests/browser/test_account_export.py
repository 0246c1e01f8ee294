"""/account/ in a real browser: the chart of the user's months, and `Export all`
downloading the whole account as Numina's archive."""

import json
import zipfile

import pytest
from playwright.sync_api import expect

from conversations import services

pytestmark = pytest.mark.django_db(transaction=True)


def test_export_all_downloads_the_archive_and_the_page_shows_the_chart(
    page, live_server, log_in, artifacts
):
    user = log_in(page)
    chats = []
    for title in ("Kyoto trip", "Sourdough"):
        conversation = services.create_conversation(user=user, title=title)
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"About {title}"
        )
        chats.append(conversation)

    page.goto(f"{live_server.url}/account/")
    chart = page.get_by_role("img", name="Messages per month")
    expect(chart).to_be_visible()
    expect(page.get_by_role("img", name="Tokens per month")).to_be_visible()
    expect(page.get_by_role("table")).to_contain_text("2")
    page.screenshot(path=str(artifacts / "account-stats.png"), full_page=True)

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Export all").click()
    download = downloading.value
    assert download.suggested_filename.startswith("numina-export-")
    assert download.suggested_filename.endswith(".zip")
    saved = artifacts / "export-all.zip"
    download.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert {entry["title"] for entry in manifest["conversations"]} == {
            "Kyoto trip",
            "Sourdough",
        }
        for conversation in chats:
            document = json.loads(archive.read(f"conversations/{conversation.id}.json"))
            assert document["messages"][0]["content"] == f"About {conversation.title}"
            assert (
                f"# {conversation.title}"
                in archive.read(f"conversations/{conversation.id}.md").decode()
            )
