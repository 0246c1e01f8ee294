"""What happens to files over time (issue 17): unreferenced ones deleted after a grace
period by the beat task; deleting a conversation for good, emptying the trash or deleting
the account removes its files from storage; the export of everything includes them."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import delete_account
from conversations import services, tasks
from conversations.models import MessageFile, UserFile
from tests.files import samples

pytestmark = pytest.mark.django_db


def on_disk(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def attached(user, *user_files, conversation=None):
    conversation = conversation or services.create_conversation(user=user)
    services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="see",
        attachments=[f"file:{f.id}" for f in user_files],
    )
    return conversation


def age(user_file, *, hours: int) -> None:
    UserFile.objects.filter(pk=user_file.pk).update(
        created_at=timezone.now() - timedelta(hours=hours)
    )


def test_the_beat_task_deletes_unreferenced_files_after_the_grace_period(
    user, settings, files_root, django_capture_on_commit_callbacks
):
    settings.NUMINA_FILE_ORPHAN_HOURS = 24
    orphan_old = samples.store(user, samples.png(10, 10))
    orphan_new = samples.store(user, samples.png(11, 10))
    kept_old = samples.store(user, samples.png(12, 10))
    attached(user, kept_old)
    age(orphan_old, hours=25)
    age(kept_old, hours=25)
    age(orphan_new, hours=23)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.purge_orphan_files() == 1
    assert set(UserFile.objects.values_list("id", flat=True)) == {orphan_new.id, kept_old.id}
    assert len(on_disk(files_root)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.purge_orphan_files() == 0  # idempotent


def test_the_beat_schedule_runs_it(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["purge-orphan-files"]
    assert entry["task"] == "conversations.tasks.purge_orphan_files"
    assert tasks.purge_orphan_files.name == entry["task"]


def test_deleting_a_conversation_for_good_removes_its_files(
    api, user, files_root, django_capture_on_commit_callbacks
):
    mine = samples.store(user, samples.png(10, 10))
    shared = samples.store(user, samples.png(11, 10))
    conversation = attached(user, mine, shared)
    attached(user, shared)  # also in another conversation: kept
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/v1/conversations/{conversation.id}/?permanent=true")
    assert response.status_code == 204
    assert list(UserFile.objects.values_list("id", flat=True)) == [shared.id]
    assert len(on_disk(files_root)) == 1
    assert MessageFile.objects.count() == 1


def test_trashing_keeps_the_files_and_emptying_the_trash_removes_them(
    user, files_root, django_capture_on_commit_callbacks
):
    user_file = samples.store(user)
    conversation = attached(user, user_file)
    services.trash_conversation(user=user, conversation_id=conversation.id)
    assert UserFile.objects.filter(id=user_file.id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.empty_trash(trashed_before=timezone.now() + timedelta(days=1), limit=10)
    assert not UserFile.objects.exists()
    assert on_disk(files_root) == []


def test_delete_forever_from_the_trash_removes_them(
    user, files_root, django_capture_on_commit_callbacks
):
    conversation = attached(user, samples.store(user))
    services.trash_conversation(user=user, conversation_id=conversation.id)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_forever(user=user, conversation_id=conversation.id)
    assert not UserFile.objects.exists()
    assert on_disk(files_root) == []


def test_deleting_the_account_removes_every_file(
    user, other_user, files_root, django_capture_on_commit_callbacks
):
    user.set_password("pw-123456")
    user.save()
    attached(user, samples.store(user))
    samples.store(user, samples.png(9, 9))  # never attached
    theirs = samples.store(other_user, samples.png(8, 8))
    with django_capture_on_commit_callbacks(execute=True):
        delete_account(user=user, password="pw-123456")
    assert list(UserFile.objects.values_list("id", flat=True)) == [theirs.id]
    assert len(on_disk(files_root)) == 1


def test_the_export_of_everything_includes_the_files(api, user, other_user):
    data = samples.png(30, 20)
    user_file = samples.store(user, data, name="chart.png")
    attached(user, user_file)
    samples.store(other_user, samples.png(5, 5), name="theirs.png")
    response = api.get("/api/v1/export/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.read(f"files/{user_file.id}/chart.png") == data
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"] == [
        {
            "id": str(user_file.id),
            "name": "chart.png",
            "content_type": "image/png",
            "size": len(data),
            "sha256": user_file.sha256,
            "path": f"files/{user_file.id}/chart.png",
        }
    ]
    assert not any("theirs" in name for name in archive.namelist())


def test_an_archive_with_files_imports_back(api, user, other_user, token_for):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    attached(user, samples.store(user, name="chart.png"))
    archive = b"".join(api.get("/api/v1/export/").streaming_content)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(other_user)}")
    response = other.post(
        "/api/v1/import/",
        {"file": SimpleUploadedFile("numina.zip", archive, content_type="application/zip")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 1
    # The conversation comes back with its attachment strings; the files are not
    # imported (nor could another user's ids give access to them).
    from conversations.models import Message

    message = Message.objects.get(owner=other_user)
    assert message.attachments[0].startswith("file:")
    assert not MessageFile.objects.filter(message=message).exists()
    assert (
        other.get(f"/api/v1/conversations/{message.conversation_id}/").json()["messages"][0][
            "files"
        ]
        == []
    )
