"""The browser's side of files: /files/<id>/ (downloads and thumbnails, owner only) and
the composer's attachments on /chats/send/."""

from __future__ import annotations

import pytest
from django.test import Client

from conversations.models import Conversation, MessageFile
from tests.files import samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_owner_downloads_and_sees_thumbnails(browser, user):
    image = samples.store(user, samples.png(), name="a.png")
    download = browser.get(f"/files/{image.id}/")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    assert download["X-Content-Type-Options"] == "nosniff"
    shown = browser.get(f"/files/{image.id}/?view=inline")
    assert shown["Content-Disposition"].startswith("inline")
    assert shown["Content-Security-Policy"] == "default-src 'none'; sandbox"
    # Only images are ever shown in place; anything else stays a download.
    text = samples.store(user, b"notes", name="n.txt")
    assert browser.get(f"/files/{text.id}/?view=inline")["Content-Disposition"].startswith(
        "attachment"
    )


def test_another_users_file_is_404(browser, other_user):
    theirs = samples.store(other_user)
    assert browser.get(f"/files/{theirs.id}/").status_code == 404
    assert browser.get(f"/files/{theirs.id}/?view=inline").status_code == 404


def test_signed_out_is_sent_to_log_in(user):
    image = samples.store(user)
    response = Client().get(f"/files/{image.id}/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_composer_sends_its_attachments(browser, user, settings):
    settings.ANTHROPIC_API_KEY = ""
    image = samples.store(user)
    response = browser.post(
        "/chats/send/", {"content": "look", "attachments": [f"file:{image.id}"]}
    )
    assert response.status_code == 302
    assert MessageFile.objects.get().file_id == image.id
    page = browser.get(response["Location"])
    assert f'src="/files/{image.id}/?view=inline"'.encode() in page.content
    assert b'alt="photo.png"' in page.content


def test_the_composer_refuses_someone_elses_file_and_makes_no_chat(browser, user, other_user):
    theirs = samples.store(other_user)
    response = browser.post(
        "/chats/send/", {"content": "look", "attachments": [f"file:{theirs.id}"]}
    )
    assert response.status_code == 400
    assert b"no longer there" in response.content
    assert not Conversation.objects.filter(owner=user).exists()
    streamed = browser.post(
        "/chats/send/",
        {"content": "look", "attachments": [f"file:{theirs.id}"]},
        headers={"X-Numina-Stream": "1"},
    )
    assert streamed.status_code == 400
    assert streamed.json() == {
        "errors": ["An attached file is no longer there. Remove it and try again."]
    }
    assert not Conversation.objects.filter(owner=user).exists()


def test_an_edit_keeps_the_messages_files(browser, user, settings):
    from django.urls import reverse

    from conversations.models import Message

    settings.ANTHROPIC_API_KEY = ""
    image = samples.store(user)
    browser.post("/chats/send/", {"content": "look", "attachments": [f"file:{image.id}"]})
    question = Message.objects.get(role="user")
    response = browser.post(
        reverse("edit_message", args=[question.conversation_id, question.id]),
        {"content": "look again"},
    )
    assert response.status_code == 302
    edited = Message.objects.get(role="user", content="look again")
    assert edited.attachments == [f"file:{image.id}"]
    assert list(MessageFile.objects.filter(message=edited).values_list("file_id", flat=True)) == [
        image.id
    ]
