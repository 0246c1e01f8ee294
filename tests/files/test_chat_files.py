"""Files in chat (issue 17): attached by ``file:<id>``, sent to the model as the right
content blocks with the right bytes (the loopback Messages API records them), listed on
each message as ``files``, bounded by Anthropic's limits and by the context's budget."""

from __future__ import annotations

import base64
import uuid

import pytest
from rest_framework.test import APIClient

from conversations import context, services
from conversations.models import Message, MessageFile, UserFile
from tests.fake_anthropic import Reply
from tests.files import samples

pytestmark = pytest.mark.django_db


def chat(client, message: str, attachments: list[str], **extra):
    return client.post(
        "/api/v1/chat/", {"message": message, "attachments": attachments, **extra}, format="json"
    )


def test_png_and_pdf_reach_the_model_as_image_and_document_blocks(api, claude, upload_file):
    png = samples.png(640, 480)
    pdf = samples.pdf(2)
    png_id = upload_file(api, png)
    pdf_id = upload_file(api, pdf, name="report.pdf", content_type="application/pdf")
    claude.answer(Reply("A red picture and a blank report."))

    response = chat(api, "What is in these?", [f"file:{png_id}", f"file:{pdf_id}"])

    assert response.status_code == 201, response.content
    [request] = claude.requests
    [message] = request.body["messages"]
    assert message["role"] == "user"
    image, document, text = message["content"]
    assert image == {
        "type": "image",
        "source": {
            "type": "base64",
            "media_type": "image/png",
            "data": base64.b64encode(png).decode(),
        },
    }
    assert document["type"] == "document"
    assert document["source"] == {
        "type": "base64",
        "media_type": "application/pdf",
        "data": base64.b64encode(pdf).decode(),
    }
    assert text == {"type": "text", "text": "What is in these?"}
    user_message = response.json()["user_message"]
    assert user_message["attachments"] == [f"file:{png_id}", f"file:{pdf_id}"]
    assert user_message["files"] == [
        {"id": png_id, "name": "photo.png", "content_type": "image/png", "size": len(png)},
        {"id": pdf_id, "name": "report.pdf", "content_type": "application/pdf", "size": len(pdf)},
    ]
    assert response.json()["assistant_message"]["files"] == []


def test_a_text_file_is_sent_inline(api, claude, upload_file):
    file_id = upload_file(api, b"name,age\nada,36\n", name="people.csv", content_type="text/csv")
    assert chat(api, "Summarise", [f"file:{file_id}"]).status_code == 201
    [message] = claude.requests[0].body["messages"]
    assert message["content"] == [
        {"type": "text", "text": "The file people.csv:\n\nname,age\nada,36\n"},
        {"type": "text", "text": "Summarise"},
    ]


def test_the_offline_provider_says_what_it_received(api, offline, upload_file):
    file_id = upload_file(api, samples.png(640, 480))
    response = chat(api, "What is this?", [f"file:{file_id}"])
    assert "It received 1 image, 640\u00d7480." in response.json()["assistant_message"]["content"]


def test_streamed_chat_sends_the_files_too(api, claude, upload_file):
    from tests.fake_anthropic import Stream

    file_id = upload_file(api, samples.png())
    claude.answer(Stream(chunks=["ok"]))
    response = chat(api, "Look", [f"file:{file_id}"], stream=True)
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert claude.requests[0].body["messages"][0]["content"][0]["type"] == "image"


def test_files_show_on_the_message_in_every_read(api, offline, upload_file):
    file_id = upload_file(api, samples.png())
    answer = chat(api, "Look", [f"file:{file_id}"]).json()
    conversation_id = answer["conversation"]["id"]
    described = [
        {
            "id": file_id,
            "name": "photo.png",
            "content_type": "image/png",
            "size": UserFile.objects.get().size,
        }
    ]
    detail = api.get(f"/api/v1/conversations/{conversation_id}/").json()
    assert detail["messages"][0]["files"] == described
    assert (
        api.get(f"/api/v1/conversations/{conversation_id}/").json()["messages"][0]["files"]
        == described
    )  # cached
    listed = api.get(f"/api/v1/conversations/{conversation_id}/messages/").json()["results"]
    assert listed[0]["files"] == described
    synced = api.get("/api/v1/sync/?include=messages").json()["messages"]
    assert next(m for m in synced if m["role"] == "user")["files"] == described


def test_messages_endpoint_takes_file_attachments(api, user, upload_file):
    conversation = services.create_conversation(user=user)
    file_id = upload_file(api, samples.png())
    response = api.post(
        f"/api/v1/conversations/{conversation.id}/messages/",
        {"role": "user", "content": "see", "attachments": [f"file:{file_id}", "https://x.test/a"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert [f["id"] for f in response.json()["files"]] == [file_id]
    assert MessageFile.objects.get().position == 0


def test_a_file_referenced_by_a_message_cannot_be_deleted(api, offline, upload_file):
    file_id = upload_file(api, samples.png())
    chat(api, "Look", [f"file:{file_id}"])
    response = api.delete(f"/api/v1/files/{file_id}/")
    assert response.status_code == 409
    assert response.json()["code"] == "file_in_use"
    assert UserFile.objects.filter(id=file_id).exists()


@pytest.mark.parametrize("endpoint", ["chat", "messages"])
def test_another_users_or_a_missing_file_is_404_and_nothing_is_stored(
    api, user, other_user, token_for, upload_file, claude, endpoint
):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(other_user)}")
    theirs = upload_file(other, samples.png())
    conversation = services.create_conversation(user=user)
    answers = []
    for attachment in (f"file:{theirs}", f"file:{uuid.uuid4()}", "file:not-a-uuid"):
        if endpoint == "chat":
            response = chat(api, "steal", [attachment], conversation_id=str(conversation.id))
        else:
            response = api.post(
                f"/api/v1/conversations/{conversation.id}/messages/",
                {"role": "user", "content": "steal", "attachments": [attachment]},
                format="json",
            )
        answers.append((response.status_code, response.json()))
    assert answers == [(404, {"detail": "Not found.", "code": "not_found"})] * 3
    assert Message.objects.count() == 0
    assert MessageFile.objects.count() == 0
    assert claude.requests == []


def test_a_first_chat_with_someone_elses_file_makes_no_conversation(
    api, user, other_user, token_for, upload_file, claude
):
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(other_user)}")
    theirs = upload_file(other, samples.png())
    assert chat(api, "steal", [f"file:{theirs}"]).status_code == 404
    from conversations.models import Conversation

    assert not Conversation.objects.filter(owner=user).exists()


def test_more_than_20_attachments_is_400(api, user, upload_file, claude):
    file_id = upload_file(api, samples.png())
    response = chat(api, "many", [f"file:{file_id}"] * 21)
    assert response.status_code == 400
    assert "no more than 20" in response.json()["attachments"][0]
    assert Message.objects.count() == 0
    assert claude.requests == []


def test_a_file_over_the_models_limits_is_400_before_the_model_is_asked(
    api, settings, upload_file, claude
):
    png = samples.png(100, 100)
    file_id = upload_file(api, png)
    settings.NUMINA_MODEL_IMAGE_MAX_BASE64_BYTES = len(png)  # its base64 is longer
    response = chat(api, "look", [f"file:{file_id}"])
    assert response.status_code == 400
    assert "photo.png: the model takes images of at most" in response.json()["attachments"][0]
    settings.NUMINA_MODEL_IMAGE_MAX_BASE64_BYTES = 5 * 1024 * 1024
    settings.NUMINA_MODEL_IMAGE_MAX_SIDE = 99
    assert "pixels a side" in chat(api, "look", [f"file:{file_id}"]).json()["attachments"][0]
    pdf_id = upload_file(api, samples.pdf(3), name="long.pdf", content_type="application/pdf")
    settings.NUMINA_MODEL_PDF_MAX_PAGES = 2
    assert "at most 2 pages" in chat(api, "read", [f"file:{pdf_id}"]).json()["attachments"][0]
    assert Message.objects.count() == 0
    assert claude.requests == []


def test_a_long_chat_with_many_images_stays_within_budget(api, user, settings, claude, upload_file):
    settings.NUMINA_CONTEXT_BUDGET = 6000
    settings.NUMINA_CONTEXT_RECENT_FILES = 3
    ids = [upload_file(api, samples.png(500, 500 + i), name=f"p{i}.png") for i in range(12)]
    conversation_id = None
    for index, file_id in enumerate(ids):
        body = chat(api, f"picture {index}", [f"file:{file_id}"], conversation_id=conversation_id)
        conversation_id = body.json()["conversation"]["id"]
    built = context.get_context(user=user, conversation_id=conversation_id)
    assert built.history_tokens <= settings.NUMINA_CONTEXT_BUDGET
    sent = [
        block["file"]["name"]
        for message in built.messages
        if isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == "file"
    ]
    assert sent == ["p9.png", "p10.png", "p11.png"]  # the newest three
    texts = " ".join(context_text(message["content"]) for message in built.messages)
    assert "[image p8.png, 500\u00d7508, not resent]" in texts
    # Each image counts ~ w*h/750 tokens in the estimate.
    assert built.estimated_tokens >= 3 * (500 * 509 // 750)
    # The last request to the model carried three images, no more.
    last = claude.requests[-1].body["messages"]
    images = [
        b
        for m in last
        if isinstance(m["content"], list)
        for b in m["content"]
        if b["type"] == "image"
    ]
    assert len(images) == 3


def context_text(content) -> str:
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content)


def test_the_context_endpoint_shows_file_blocks_and_counts_them(api, user, offline, upload_file):
    file_id = upload_file(api, samples.png(750, 100))
    conversation_id = chat(api, "look", [f"file:{file_id}"]).json()["conversation"]["id"]
    answer = api.get(f"/api/v1/conversations/{conversation_id}/context/").json()
    first = answer["messages"][0]["content"]
    assert first[0] == {
        "type": "file",
        "file": {
            "id": file_id,
            "name": "photo.png",
            "content_type": "image/png",
            "size": UserFile.objects.get().size,
            "estimated_tokens": 100,
        },
    }
    without = context.assemble_context(history=[context.Turn("user", "look")])
    assert answer["estimated_tokens"] >= without.estimated_tokens + 100


def test_the_newest_messages_files_are_sent_even_over_budget(settings):
    big = context.ContextFile(
        id="1", name="a.png", content_type="image/png", size=1, width=4000, height=4000
    )
    built = context.assemble_context(history=[context.Turn("user", "look", (big,))], budget=200)
    assert built.messages[0]["content"][0]["type"] == "file"
    assert built.messages[0]["content"][1] == {"type": "text", "text": "look"}
