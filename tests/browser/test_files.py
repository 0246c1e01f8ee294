"""Attach file in a real browser (issue 17): attach an image, send, see the thumbnail and
the reply; reload, still there; download it. At phone width too."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import MessageFile
from tests.files import samples

pytestmark = pytest.mark.django_db(transaction=True)


def attach_and_send(page, tmp_path, *, name: str, data: bytes, text: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    page.get_by_label("Attach file").set_input_files(str(path))
    chips = page.get_by_role("list", name="Attached files")
    expect(chips.get_by_text(name)).to_be_visible()
    expect(chips.get_by_role("button", name=f"Remove {name}")).to_be_visible()  # uploaded
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")


def test_attach_an_image_send_reload_download(page, log_in, tmp_path, artifacts, settings):
    settings.ANTHROPIC_API_KEY = ""
    log_in(page)
    png = samples.png(640, 480)
    attach_and_send(page, tmp_path, name="chart.png", data=png, text="What is in this chart?")

    messages = page.get_by_role("region", name="Messages")
    thumbnail = messages.locator(".role-user").get_by_role("img", name="chart.png")
    expect(thumbnail).to_be_visible()
    expect(messages.locator(".role-assistant")).to_contain_text(
        "It received 1 image, 640\u00d7480."
    )
    expect(page.locator("#composer-files li")).to_have_count(0)
    # The image really loaded (its natural size is the file's).
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=thumbnail.element_handle()
    )
    page.screenshot(path=str(artifacts / "files-desktop.png"))

    page.reload()
    expect(page).to_have_url(re.compile(r"/chats/[0-9a-f-]{36}/$"))
    thumbnail = page.get_by_role("region", name="Messages").get_by_role("img", name="chart.png")
    expect(thumbnail).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download chart.png").click()
    assert download.value.suggested_filename == "chart.png"
    with open(download.value.path(), "rb") as downloaded:
        assert downloaded.read() == png
    assert MessageFile.objects.count() == 1


def test_a_refused_file_shows_why_and_is_not_sent(page, log_in, tmp_path):
    log_in(page)
    path = tmp_path / "evil.png"
    path.write_bytes(b"<svg onload=alert(1)></svg>")
    page.get_by_label("Attach file").set_input_files(str(path))
    expect(page.locator("#composer-error")).to_contain_text(
        "HTML, SVG and XML files are not allowed."
    )
    page.get_by_role("button", name="Remove evil.png").click()
    expect(page.locator("#composer-files li")).to_have_count(0)


def test_a_pdf_shows_as_a_download_link_at_phone_width(
    phone, log_in, tmp_path, artifacts, settings
):
    settings.ANTHROPIC_API_KEY = ""
    log_in(phone)
    attach_and_send(phone, tmp_path, name="report.pdf", data=samples.pdf(2), text="Read this")
    link = phone.get_by_role("region", name="Messages").get_by_role(
        "link", name=re.compile("report.pdf")
    )
    expect(link).to_be_visible()
    expect(phone.get_by_role("region", name="Messages").locator(".role-assistant")).to_contain_text(
        "1 PDF of 2 pages"
    )
    box = link.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390
    phone.screenshot(path=str(artifacts / "files-phone.png"))
