"""POST /api/v1/import/ refuses bad files with a clear 400 (or, for one conversation, an
``errors`` entry) and stores nothing of what it refuses; never a 500."""

import io
import json
import zipfile

import pytest

from conversations.models import Conversation, Message
from tests.importing import fixture_bytes, numina_archive, upload, zip_of

pytestmark = pytest.mark.django_db


def refused(response) -> str:
    assert response.status_code == 400, response.content
    (detail,) = response.json()["file"]
    return detail


def nothing_stored(user) -> bool:
    return not Conversation.objects.filter(owner=user).exists()


def test_a_zip_that_is_not_ours(api, user):
    data = zip_of({"photos/cat.jpg": b"\xff\xd8\xff", "notes.txt": "hello"})

    assert "not a Numina archive" in refused(upload(api, data, "photos.zip"))
    assert nothing_stored(user)


def test_a_zip_whose_manifest_is_not_ours(api, user):
    data = zip_of({"manifest.json": json.dumps({"format": "something-else", "version": 3})})

    assert "not a Numina archive" in refused(upload(api, data, "x.zip"))


def test_json_of_no_known_format(api, user):
    for body in ([{"hello": "world"}], {"messages": []}, [1, 2, 3], "text", []):
        detail = refused(upload(api, json.dumps(body).encode()))
        assert "known export format" in detail or "no conversations" in detail
    assert nothing_stored(user)


def test_a_truncated_json_file(api, user):
    data = fixture_bytes("chatgpt_conversations.json")

    assert "truncated" in refused(upload(api, data[: len(data) // 2]))
    assert nothing_stored(user)


def test_a_truncated_zip(api, user):
    data = zip_of({"conversations.json": fixture_bytes("claude_conversations.json")})

    assert "truncated" in refused(upload(api, data[: len(data) // 2], "cut.zip"))
    assert nothing_stored(user)


def test_neither_zip_nor_json(api, user):
    assert "truncated" in refused(upload(api, b"\x00\x01binary garbage", "x.bin"))


def test_a_zip_bomb_by_compression_ratio(api, user):
    # 50 MB of zeros deflate to about 50 KB: a ratio near a thousand.
    data = zip_of({"conversations.json": b"0" * (50 * 1024 * 1024)})

    assert "zip bomb" in refused(upload(api, data, "bomb.zip"))
    assert nothing_stored(user)


def test_a_zip_bomb_by_entry_count(api, user, settings):
    settings.NUMINA_IMPORT_MAX_ENTRIES = 10
    data = zip_of({f"conversations/{n}.json": "{}" for n in range(11)})

    assert "more than 10 entries" in refused(upload(api, data, "many.zip"))


def test_a_zip_bomb_by_total_uncompressed_size(api, user, settings):
    settings.NUMINA_IMPORT_MAX_UNCOMPRESSED_BYTES = 1000
    data = zip_of({"manifest.json": "x" * 600, "conversations.json": "y" * 600})

    assert "zip bomb" in refused(upload(api, data, "big.zip"))


def test_a_zip_whose_directory_lies_about_an_entry_size(api, user):
    """The directory says 10 bytes; the entry inflates to far more. zipfile stops at the
    declared size, the CRC check fails, and the file is refused."""
    real = fixture_bytes("claude_conversations.json")
    data = bytearray(zip_of({"conversations.json": real}))
    directory = data.rindex(b"PK\x01\x02")
    # The central directory's uncompressed size field (offset 24) and the local header's
    # (offset 22): both claim 10 bytes.
    data[directory + 24 : directory + 28] = (10).to_bytes(4, "little")
    data[22:26] = (10).to_bytes(4, "little")

    detail = refused(upload(api, bytes(data), "liar.zip"))
    assert "cannot be read" in detail or "truncated" in detail
    assert nothing_stored(user)


@pytest.mark.parametrize("name", ["../evil.json", "conversations/../../evil.json", "/etc/passwd"])
def test_an_entry_path_that_climbs_out(api, user, name):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", "{}")
        archive.writestr(zipfile.ZipInfo(name), "{}")

    assert "unsafe entry path" in refused(upload(api, buffer.getvalue(), "climb.zip"))


def test_a_file_over_the_size_limit(api, user, settings):
    settings.NUMINA_IMPORT_MAX_BYTES = 1000
    data = fixture_bytes("chatgpt_conversations.json")
    assert len(data) > 1000

    assert "NUMINA_IMPORT_MAX_BYTES" in refused(upload(api, data))
    assert nothing_stored(user)


def test_no_file_at_all(api):
    response = api.post("/api/v1/import/", {}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


def test_a_conversation_of_100000_messages_is_that_items_error(api, user, settings):
    """Over NUMINA_IMPORT_MAX_MESSAGES (10,000): refused before any message is cleaned,
    nothing of it stored, and the other conversation of the file kept."""
    settings.NUMINA_IMPORT_ASYNC_BYTES = 100 * 1024 * 1024  # in the request, for the test
    huge = {
        "uuid": "huge-1",
        "name": "Too long",
        "created_at": "2024-01-01T00:00:00Z",
        "chat_messages": [
            {"uuid": f"h{n}", "sender": "human" if n % 2 == 0 else "assistant", "text": "x"}
            for n in range(100_000)
        ],
    }
    small = {
        "uuid": "small-1",
        "name": "Short",
        "chat_messages": [{"uuid": "s1", "sender": "human", "text": "hi"}],
    }

    response = upload(api, json.dumps([huge, small]).encode())

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 1
    (error,) = body["errors"]
    assert error["item"] == "claude:huge-1"
    assert "no more than 10000" in error["detail"]
    assert list(Conversation.objects.filter(owner=user).values_list("title", flat=True)) == [
        "Short"
    ]
    assert Message.objects.filter(owner=user).count() == 1


def test_one_bad_message_refuses_its_conversation_only(api, user, settings):
    settings.NUMINA_CONTENT_MAX_LENGTH = 50
    items = [
        {
            "uuid": "bad",
            "name": "Bad",
            "chat_messages": [
                {"uuid": "b1", "sender": "human", "text": "fine"},
                {"uuid": "b2", "sender": "assistant", "text": "far too long " * 10},
            ],
        },
        "not an object",
        {
            "uuid": "good",
            "name": "Good",
            "chat_messages": [{"uuid": "g1", "sender": "human", "text": "ok"}],
        },
    ]

    response = upload(api, json.dumps(items).encode())

    body = response.json()
    assert body["created"] == 1
    assert [e["item"] for e in body["errors"]] == ["claude:bad", "claude:#1"]
    assert "messages[1].content" in body["errors"][0]["detail"]
    assert not Conversation.objects.filter(owner=user, import_id="bad").exists()
    assert Message.objects.filter(owner=user).count() == 1


def test_a_conversation_with_nothing_to_show_is_an_error(api, user):
    items = [
        {"uuid": "empty", "name": "Empty", "chat_messages": [{"sender": "human", "text": " "}]}
    ]

    body = upload(api, json.dumps(items).encode()).json()

    assert body["created"] == 0
    assert body["errors"] == [{"item": "claude:empty", "detail": "messages: No message to import."}]


def test_a_numina_archive_with_a_broken_entry_keeps_the_others(api, user):
    good = {
        "format": "numina.conversation",
        "version": 1,
        "conversation": {"id": "11111111-1111-4111-8111-111111111111", "title": "Good"},
        "messages": [{"role": "user", "content": "hello"}],
    }
    bad = {
        "format": "numina.conversation",
        "version": 1,
        "conversation": {"id": "22222222-2222-4222-8222-222222222222", "title": "Bad"},
        "messages": [{"role": "wizard", "content": "hello"}],
    }
    data = bytearray(numina_archive([good, bad]))

    body = upload(api, bytes(data), "numina.zip").json()

    assert body["created"] == 1
    (error,) = body["errors"]
    assert error["item"] == "numina:22222222-2222-4222-8222-222222222222"
    assert "role" in error["detail"]
