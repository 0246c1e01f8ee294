"""GET /api/v1/export/: the whole account as Numina's archive, a streamed ZIP."""

import io
import json
import zipfile

import pytest
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import close_old_connections

from conversations import services, streams
from conversations.models import Conversation
from tests.api.test_export_import_branches import add

pytestmark = pytest.mark.django_db

EXPORT_ALL = "/api/v1/export/"


def one_export(api, conversation_id, export_format="json") -> bytes:
    response = api.get(
        f"/api/v1/conversations/{conversation_id}/export/", {"format": export_format}
    )
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def download(api) -> zipfile.ZipFile:
    response = api.get(EXPORT_ALL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def without_export_time(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "exported_at"}


def make_chats(user, count: int, *, messages: int = 2) -> list[Conversation]:
    made = []
    for n in range(count):
        conversation = services.create_conversation(user=user, title=f"Chat {n}", tags=["t"])
        for m in range(messages):
            add(user, conversation, "user" if m % 2 == 0 else "assistant", f"chat {n} turn {m}")
        made.append(conversation)
    return made


@pytest.fixture
def tree(user):
    """A branched chat whose shown branch is not the newest: u1 → a1 → u2 → a2, and
    u2 edited (u2e → a2e), then u2's branch shown again."""
    conversation = services.create_conversation(user=user, title="Tree", tags=["x", "a"])
    add(user, conversation, "user", "first question")
    a1 = add(user, conversation, "assistant", "first answer")
    u2 = add(user, conversation, "user", "second question")
    add(user, conversation, "assistant", "second answer")
    u2e = add(user, conversation, "user", "second question, edited", parent=a1)
    add(user, conversation, "assistant", "answer to the edit", parent=u2e)
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=u2.id)
    return conversation


def test_the_archive_holds_each_conversation_as_its_own_export(api, user, tree):
    chats = [tree, *make_chats(user, 3)]
    empty = services.create_conversation(user=user)
    response = api.get(EXPORT_ALL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="numina-export-')
    assert disposition.endswith('.zip"')
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None

    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "numina-export"
    assert manifest["version"] == 1
    assert manifest["exported_at"]
    listed = {entry["id"]: entry for entry in manifest["conversations"]}
    assert set(listed) == {str(c.id) for c in [*chats, empty]}
    for conversation in [*chats, empty]:
        entry = listed[str(conversation.id)]
        assert entry["title"] == conversation.title
        assert entry["json"] == f"conversations/{conversation.id}.json"
        assert entry["markdown"] == f"conversations/{conversation.id}.md"
        from_archive = json.loads(archive.read(entry["json"]))
        alone = json.loads(one_export(api, conversation.id))
        assert without_export_time(from_archive) == without_export_time(alone)
        # The Markdown is the current branch, exactly as the one-conversation export.
        assert archive.read(entry["markdown"]) == one_export(api, conversation.id, "markdown")
    expected = {"manifest.json", "memory.json"} | {
        name
        for c in [*chats, empty]
        for name in (f"conversations/{c.id}.json", f"conversations/{c.id}.md")
    }
    assert set(archive.namelist()) == expected


def test_the_tree_comes_whole_and_the_markdown_shows_the_current_branch(api, tree):
    archive = download(api)
    document = json.loads(archive.read(f"conversations/{tree.id}.json"))
    assert len(document["messages"]) == 6
    markdown = archive.read(f"conversations/{tree.id}.md").decode()
    assert "second answer" in markdown
    assert "answer to the edit" not in markdown
    assert "on the current branch (6 stored)" in markdown


def test_another_users_conversations_are_not_in_it(api, user, other_user):
    mine = make_chats(user, 1)[0]
    theirs = make_chats(other_user, 2)
    archive = download(api)
    ids = [entry["id"] for entry in json.loads(archive.read("manifest.json"))["conversations"]]
    assert ids == [str(mine.id)]
    names = archive.namelist()
    assert not any(str(c.id) in name for c in theirs for name in names)
    # Nor any of their messages inside my documents.
    assert b"chat 1" not in archive.read(f"conversations/{mine.id}.json")


def test_an_empty_account_gets_a_valid_archive_with_an_empty_list(api):
    archive = download(api)
    assert archive.namelist() == ["memory.json", "manifest.json"]
    assert json.loads(archive.read("manifest.json"))["conversations"] == []
    assert json.loads(archive.read("memory.json")) == {"memory": []}


def test_it_needs_a_signed_in_user(anon_api):
    assert anon_api.get(EXPORT_ALL).status_code == 401


def test_a_browser_session_downloads_it_too(session_api, user):
    make_chats(user, 1)
    response = session_api.get(EXPORT_ALL)
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert len(json.loads(archive.read("manifest.json"))["conversations"]) == 1


@pytest.mark.parametrize("batch", [2, 200])
def test_queries_do_not_grow_with_the_number_of_conversations(
    api, user, settings, django_assert_max_num_queries, batch
):
    """3 queries a batch + 3 (conversations/archive.py: the end, the files, the memory);
    the request itself (the token, the user, the throttle) costs a few more. With batches
    of 2, thirty chats take 15 batches: the bound is per batch, never per conversation or
    message."""
    settings.NUMINA_EXPORT_BATCH = batch
    make_chats(user, 3, messages=4)
    request_overhead = 6
    with django_assert_max_num_queries(3 * 2 + 3 + request_overhead) as small:
        assert len(download(api).namelist()) == 8
    make_chats(user, 27, messages=4)
    bound = 3 * -(-30 // batch) + 3 + request_overhead
    with django_assert_max_num_queries(bound) as large:
        archive = download(api)
    assert len(archive.namelist()) == 62
    if batch == 200:  # one batch either way: exactly the same queries
        assert len(large.captured_queries) == len(small.captured_queries)
    # Every conversation once, in full, across the batches.
    manifest = json.loads(archive.read("manifest.json"))
    assert len({entry["id"] for entry in manifest["conversations"]}) == 30
    for entry in manifest["conversations"]:
        assert len(json.loads(archive.read(entry["json"]))["messages"]) == 4


def slots_held(user) -> int:
    return cache.client.get_client(write=True).zcard(streams.slots_key(user.pk))


def test_the_download_holds_a_stream_slot_and_gives_it_back(api, user, settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    make_chats(user, 2)
    response = api.get(EXPORT_ALL)
    assert response.status_code == 200
    assert slots_held(user) == 1
    # The one slot is taken: a second download at once is refused.
    refused = api.get(EXPORT_ALL)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_streams"
    assert refused["Retry-After"]
    b"".join(response.streaming_content)  # the download ends: its slot is given back
    assert slots_held(user) == 0
    assert api.get(EXPORT_ALL).status_code == 200


def test_a_download_closed_early_gives_the_slot_back(api, user, settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    make_chats(user, 2)
    response = api.get(EXPORT_ALL)
    next(iter(response.streaming_content))
    assert slots_held(user) == 1
    # The client goes away: the server closes the response, as the test client does at
    # the end of a body (without closing the test's database connection).
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
    assert slots_held(user) == 0


def test_the_archive_holds_the_users_memory_and_only_theirs(api, user, other_user):
    from memory import services as memory_services

    mine = memory_services.create_item(user=user, kind="name", content="Ada")
    memory_services.create_item(user=other_user, kind="name", content="Eve")

    archive = download(api)

    assert json.loads(archive.read("manifest.json"))["memory"] == "memory.json"
    items = json.loads(archive.read("memory.json"))["memory"]
    assert [
        (item["id"], item["kind"], item["content"], item["user_written"]) for item in items
    ] == [(str(mine.id), "name", "Ada", True)]
