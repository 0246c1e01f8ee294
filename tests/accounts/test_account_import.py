"""/account/'s Import chats without a browser: the form's answers and the job partial."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import Conversation, ImportJob
from tests.importing import fixture_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_the_section_has_the_archive_field(signed_in):
    page = signed_in.get("/account/").content.decode()

    assert 'id="import-archive" name="file"' in page
    assert ">Archive</label>" in page
    assert "Import chats" in page


def test_the_form_imports_and_shows_the_outcome(signed_in, user):
    upload = SimpleUploadedFile("conversations.json", fixture_bytes("claude_conversations.json"))

    response = signed_in.post("/account/import/", {"file": upload}, follow=True)

    page = response.content.decode()
    assert "Import done." in page
    assert "Created 2" in page
    assert Conversation.objects.filter(owner=user).count() == 2


def test_the_form_without_a_file_says_so(signed_in):
    response = signed_in.post("/account/import/", {}, follow=True)

    assert "Choose an archive to import." in response.content.decode()


def test_a_running_job_polls_and_a_finished_one_stops(signed_in, user):
    job = ImportJob.objects.create(
        owner=user, status=ImportJob.Status.RUNNING, total=10, processed=4, filename="big.zip"
    )

    running = signed_in.get(f"/account/import/{job.id}/").content.decode()
    assert "4 of 10 chats" in running
    assert 'hx-trigger="every 1s"' in running

    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE, created=10)
    done = signed_in.get(f"/account/import/{job.id}/").content.decode()
    assert "Created 10" in done
    assert "hx-trigger" not in done


def test_another_users_job_is_not_shown(signed_in, other_user):
    job = ImportJob.objects.create(owner=other_user, status=ImportJob.Status.DONE, created=3)

    assert signed_in.get(f"/account/import/{job.id}/").status_code == 404
    assert "Created 3" not in signed_in.get(f"/account/?import={job.id}").content.decode()
    assert signed_in.get("/account/?import=not-a-uuid").status_code == 200
