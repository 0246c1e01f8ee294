"""Numina's own archive round trip, the background job for large files, and the
operator's command: all through services.bulk_import."""

import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from conversations import services
from conversations.models import Conversation, ImportJob, Message
from tests.factories import UserFactory
from tests.importing import fixture_bytes, numina_archive, upload

pytestmark = pytest.mark.django_db


def export_document(api, conversation_id) -> dict:
    response = api.get(f"/api/v1/conversations/{conversation_id}/export/")
    return json.loads(b"".join(response.streaming_content))


@pytest.fixture
def history(user):
    """Two conversations, one with an edited first message and a regenerated reply."""
    trip = services.create_conversation(user=user, title="Trip", tags=["travel"])
    first = services.add_message(
        user=user, conversation_id=trip.id, role="user", content="Kyoto?"
    ).message
    services.add_message(user=user, conversation_id=trip.id, role="assistant", content="Yes.")
    services.add_message(
        user=user, conversation_id=trip.id, role="assistant", content="Go.", parent_id=first.id
    )
    services.add_message(
        user=user,
        conversation_id=trip.id,
        role="user",
        content="Osaka?",
        parent_id=services.NO_PARENT,
    )
    notes = services.create_conversation(user=user, title="Notes")
    services.add_message(
        user=user, conversation_id=notes.id, role="user", content="Remember milk", metadata={"n": 1}
    )
    return [trip, notes]


def shape(api, conversation_id) -> dict:
    """A conversation's export with ids replaced by positions: what a copy must equal."""
    doc = export_document(api, conversation_id)
    position = {m["id"]: index for index, m in enumerate(doc["messages"])}
    conversation = {
        k: doc["conversation"][k]
        for k in ("title", "title_set_by_user", "tags", "message_count", "created_at")
    }
    conversation["current"] = position.get(doc["conversation"]["current_message_id"])
    messages = [
        {
            "parent": position.get(m["parent_id"]),
            **{k: m[k] for k in ("seq", "role", "content", "metadata", "created_at")},
        }
        for m in doc["messages"]
    ]
    return {"conversation": conversation, "messages": messages}


def test_round_trip_through_a_numina_archive_into_a_fresh_account(api, history, token_for):
    archive = numina_archive([export_document(api, c.id) for c in history])
    fresh_user = UserFactory()
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(fresh_user)}")

    response = upload(fresh, archive, "numina-export.zip")

    assert response.status_code == 201, response.content
    assert response.json() == {"created": 2, "updated": 0, "skipped": 0, "errors": []}
    for original in history:
        copy = Conversation.objects.get(owner=fresh_user, import_id=str(original.id))
        assert copy.import_source == "numina"
        assert shape(fresh, copy.id) == shape(api, original.id)

    again = upload(fresh, archive, "numina-export.zip")

    assert again.json() == {"created": 0, "updated": 0, "skipped": 2, "errors": []}
    assert Conversation.objects.filter(owner=fresh_user).count() == 2
    assert Message.objects.filter(owner=fresh_user).count() == 5


def whole_export(client) -> tuple[bytes, dict[str, dict]]:
    """GET /api/v1/export/: the ZIP, and its conversations' JSON by title."""
    import io
    import zipfile

    response = client.get("/api/v1/export/")
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        documents = [json.loads(archive.read(item["json"])) for item in manifest["conversations"]]
    return data, {doc["conversation"]["title"]: doc for doc in documents}


def without_ids(doc: dict) -> dict:
    position = {m["id"]: index for index, m in enumerate(doc["messages"])}
    conversation = {
        k: doc["conversation"][k]
        for k in ("title", "title_set_by_user", "tags", "message_count", "created_at")
    }
    conversation["current"] = position.get(doc["conversation"]["current_message_id"])
    return {
        "conversation": conversation,
        "messages": [
            {
                "parent": position.get(m["parent_id"]),
                **{k: m[k] for k in ("seq", "role", "content", "metadata", "created_at")},
            }
            for m in doc["messages"]
        ],
    }


def test_round_trip_numina_to_zip_to_a_fresh_account_to_zip(api, history, token_for):
    # The archive GET /api/v1/export/ writes, not one built by hand.
    archive, exported = whole_export(api)
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(UserFactory())}")

    assert upload(fresh, archive, "numina-export.zip").json()["created"] == len(history)
    _, exported_again = whole_export(fresh)

    assert exported_again.keys() == exported.keys()
    for title, doc in exported.items():
        assert without_ids(exported_again[title]) == without_ids(doc)
    assert upload(fresh, archive, "numina-export.zip").json()["created"] == 0


def test_one_conversation_export_json_imports_too(api, user, history):
    doc = export_document(api, history[1].id)
    other = UserFactory()
    client = APIClient()
    client.force_authenticate(other)

    assert upload(client, json.dumps(doc).encode()).json()["created"] == 1
    assert upload(client, json.dumps(doc).encode()).json()["skipped"] == 1


def test_import_queries_are_bounded_per_conversation(api, user, django_assert_max_num_queries):
    data = fixture_bytes("chatgpt_conversations.json")
    # Two conversations: authentication, then per conversation the key check, the
    # savepoint, the insert of the row and of its messages, the change number, the save.
    with django_assert_max_num_queries(30):
        assert upload(api, data).json()["created"] == 2


@pytest.fixture
def eager(monkeypatch):
    """The job's task runs in process (no worker in these tests), as with no broker."""
    from numina.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


def test_a_large_file_is_a_job_with_progress(
    api, user, settings, eager, django_capture_on_commit_callbacks
):
    settings.NUMINA_IMPORT_ASYNC_CONVERSATIONS = 1
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api, fixture_bytes("chatgpt_conversations.json"), "big.json")

    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "pending"
    assert job["total"] == 2
    assert job["filename"] == "big.json"
    status = api.get(f"/api/v1/import/{job['id']}/")
    assert status.status_code == 200
    assert {k: status.json()[k] for k in ("status", "total", "processed", "created")} == {
        "status": "done",
        "total": 2,
        "processed": 2,
        "created": 2,
    }
    assert ImportJob.objects.get(pk=job["id"]).data is None  # the upload is not kept
    assert Conversation.objects.filter(owner=user).count() == 2


def test_a_large_file_past_the_byte_threshold_that_is_no_format_fails_its_job(
    api, user, settings, eager, django_capture_on_commit_callbacks
):
    settings.NUMINA_IMPORT_ASYNC_BYTES = 10
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api, json.dumps([{"hello": "world"}]).encode())

    assert response.status_code == 202
    job = api.get(f"/api/v1/import/{response.json()['id']}/").json()
    assert job["status"] == "failed"
    assert job["errors"][0]["item"] == "file"
    assert "known export format" in job["errors"][0]["detail"]


def test_a_large_file_that_is_neither_zip_nor_json_is_refused_at_once(api, settings):
    settings.NUMINA_IMPORT_ASYNC_BYTES = 10

    response = upload(api, b"this is plainly not an export at all")

    assert response.status_code == 400
    assert not ImportJob.objects.exists()


def test_a_large_zip_bomb_is_refused_at_once(api, settings):
    from tests.importing import zip_of

    settings.NUMINA_IMPORT_ASYNC_BYTES = 10

    response = upload(api, zip_of({"conversations.json": b"0" * (50 * 1024 * 1024)}), "b.zip")

    assert response.status_code == 400
    assert not ImportJob.objects.exists()


def test_a_job_run_twice_imports_once(user, settings):
    from conversations.services import bulk_import

    job = ImportJob.objects.create(
        owner=user, data=fixture_bytes("claude_conversations.json"), size=1
    )
    bulk_import.run_job(job_id=job.id)
    # A redelivered task: the job is done, nothing happens; and one still marked running
    # skips what it already imported.
    bulk_import.run_job(job_id=job.id)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, data=fixture_bytes("claude_conversations.json")
    )
    bulk_import.run_job(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.created, job.skipped) == ("done", 0, 2)
    assert Conversation.objects.filter(owner=user).count() == 2


def test_another_users_job_is_not_found(api, other_user):
    job = ImportJob.objects.create(owner=other_user, status=ImportJob.Status.DONE)

    assert api.get(f"/api/v1/import/{job.id}/").status_code == 404
    assert api.get("/api/v1/import/00000000-0000-4000-8000-000000000000/").status_code == 404


def test_the_operators_command(user, tmp_path, capsys):
    path = tmp_path / "conversations.json"
    path.write_bytes(fixture_bytes("openwebui_export.json"))

    call_command("import_conversations", str(path), user=user.username)
    call_command("import_conversations", str(path), user=user.username)

    out = capsys.readouterr().out
    assert "openwebui: 2 created, 0 updated, 0 skipped, 0 errors" in out
    assert "openwebui: 0 created, 0 updated, 2 skipped, 0 errors" in out
    assert Conversation.objects.filter(owner=user).count() == 2


def test_the_operators_command_refuses_clearly(user, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"hello": 1}')

    with pytest.raises(CommandError, match="No user named"):
        call_command("import_conversations", str(path), user="nobody-here")
    with pytest.raises(CommandError, match="known export format"):
        call_command("import_conversations", str(path), user=user.username)
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_conversations", str(tmp_path / "missing.json"), user=user.username)


def test_a_re_import_skips_before_reading_a_document_and_a_new_bad_one_is_still_an_error(
    api, user, history
):
    # A conversation imported before is skipped on its key alone: its document is not
    # validated again (what made re-importing 10,000 conversations take minutes), so even
    # one that no longer validates is a skip. A new one that does not validate is still
    # that item's error, with nothing of it stored.
    docs = [export_document(api, conversation.id) for conversation in history]
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert upload(client, numina_archive(docs), "a.zip").json()["created"] == 2

    docs[0]["messages"][0]["role"] = "wizard"
    broken_new = json.loads(json.dumps(docs[1]))
    broken_new["conversation"]["id"] = "new-one"
    broken_new["messages"][0]["role"] = "wizard"
    answer = upload(client, numina_archive([*docs, broken_new]), "b.zip").json()

    assert answer["skipped"] == 2
    assert answer["created"] == 0
    assert [error["item"] for error in answer["errors"]] == ["numina:new-one"]
    assert "role" in answer["errors"][0]["detail"]
