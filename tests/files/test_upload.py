"""POST /api/v1/files/, GET and DELETE /api/v1/files/{id}/: every bad input of issue 17 a
clear 400 with nothing stored; the type judged from the content; downloads hardened."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import StopUpload

from conversations import uploads
from conversations.models import UserFile
from tests.files import samples

pytestmark = pytest.mark.django_db


def upload(client, data: bytes, name: str = "photo.png", content_type: str = "image/png"):
    return client.post(
        "/api/v1/files/",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def raw_upload(client, data: bytes, *, filename: str):
    """A multipart body written by hand: Django's test client would cut a name with a
    path down to its last part before sending it, as a browser does not always."""
    boundary = "numinaboundary"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.generic(
        "POST", "/api/v1/files/", body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def assert_nothing_stored(files_root) -> None:
    assert UserFile.objects.count() == 0
    assert stored_files(files_root) == []


def test_png_upload_is_stored_under_an_opaque_name_with_its_hash(api, user, files_root):
    data = samples.png(640, 480)
    response = upload(api, data, name="My holiday photo.png")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "name", "content_type", "size", "sha256", "created_at"}
    assert body["name"] == "My holiday photo.png"
    assert body["content_type"] == "image/png"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    row = UserFile.objects.get(id=body["id"])
    assert (row.owner_id, row.width, row.height) == (user.id, 640, 480)
    [on_disk] = stored_files(files_root)
    assert on_disk.read_bytes() == data
    # Never the user's name on disk: files/<sha256[:2]>/<uuid hex>.
    assert on_disk.relative_to(files_root).as_posix() == (
        f"files/{body['sha256'][:2]}/{row.id.hex}"
    )


@pytest.mark.parametrize(
    ("data", "name", "claimed", "judged"),
    [
        (samples.image_bytes(fmt="JPEG"), "a.jpg", "image/jpeg", "image/jpeg"),
        (samples.image_bytes(fmt="GIF"), "a.gif", "image/gif", "image/gif"),
        (samples.image_bytes(fmt="WEBP"), "a.webp", "image/webp", "image/webp"),
        (samples.pdf(2), "a.pdf", "application/pdf", "application/pdf"),
        (b"just some notes\n", "notes.txt", "text/plain", "text/plain"),
        (b"# Title\n\nbody\n", "README.md", "text/markdown", "text/markdown"),
        (b"a,b\n1,2\n", "t.csv", "text/csv", "text/csv"),
        (b'{"a": [1, 2]}', "d.json", "application/json", "application/json"),
        # The client's type and name are not believed: the bytes decide.
        (samples.png(), "not-a-pdf.pdf", "application/pdf", "image/png"),
        (samples.pdf(), "picture.png", "image/png", "application/pdf"),
        (b"{not json", "d.json", "application/json", "text/plain"),
    ],
)
def test_the_type_is_judged_from_the_content(api, data, name, claimed, judged):
    response = upload(api, data, name=name, content_type=claimed)
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == judged


def test_pdf_pages_are_read(api):
    response = upload(api, samples.pdf(3), name="doc.pdf", content_type="application/pdf")
    assert UserFile.objects.get(id=response.json()["id"]).pages == 3


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.png", "empty"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "program", "not allowed"),
        (bytes(range(256)) * 4, "blob.bin", "not allowed"),
        (b"<html><script>alert(1)</script></html>", "evil.png", "HTML, SVG and XML"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "evil.png",
            "HTML, SVG and XML",
        ),
        (b"\xef\xbb\xbf  <?xml version='1.0'?><a/>", "data.txt", "HTML, SVG and XML"),
        (samples.lying_png(), "lying.png", "not a valid image"),
        (samples.png()[:40], "truncated.png", "not a valid image"),
        (samples.bomb_png(), "bomb.png", "too many pixels"),
        (b"%PDF-1.7\nnot really a pdf", "fake.pdf", "not a valid PDF"),
        (b"text with a \x00 NUL", "nul.txt", "not allowed"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(api, files_root, data, name, message):
    response = upload(api, data, name=name)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["file"])
    assert_nothing_stored(files_root)


def test_the_decompression_bomb_limit_is_a_setting(api, settings, files_root):
    settings.NUMINA_IMAGE_MAX_PIXELS = 1000
    response = upload(api, samples.png(40, 40))  # 1,600 pixels: between 1x and 2x
    assert response.status_code == 400
    assert "too many pixels" in response.json()["file"][0]
    assert_nothing_stored(files_root)


def test_a_type_can_be_left_out_of_the_allowed_ones(api, settings, files_root):
    settings.NUMINA_FILE_ALLOWED_TYPES = ["image/png"]
    assert upload(api, samples.pdf(), name="a.pdf").status_code == 400
    assert upload(api, samples.png()).status_code == 201


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd.png", "..\\..\\boot.png", "dir/photo.png", "bell\x07.png", "a\u202egnp.exe"],
)
def test_names_with_paths_or_control_characters_are_refused(api, files_root, name):
    response = raw_upload(api, samples.png(), filename=name)
    assert response.status_code == 400, response.content
    assert response.json()["file"][0] in (
        "The file name may not contain a path.",
        "The file name has control characters.",
    )
    assert_nothing_stored(files_root)


def test_a_long_name_is_cut_keeping_its_extension(api):
    response = upload(api, samples.png(), name="x" * 300 + ".png")
    name = response.json()["name"]
    assert len(name) == uploads.MAX_NAME_LENGTH
    assert name.endswith(".png")


def test_over_the_size_limit_is_refused_and_nothing_stored(api, settings, files_root):
    settings.NUMINA_FILE_MAX_BYTES = 100 * 1024
    response = upload(api, b"a" * (300 * 1024), name="big.txt")
    assert response.status_code == 400
    assert "larger than 102400 bytes" in response.json()["file"][0]
    assert_nothing_stored(files_root)
    # Exactly at the limit is allowed.
    assert upload(api, b"a" * (100 * 1024), name="ok.txt").status_code == 201


def test_the_handler_stops_while_streaming_not_after_reading_it_all(settings):
    """Fed chunk by chunk, the handler stops at the first chunk past the limit: it never
    receives (nor writes) the rest."""
    handler = uploads.LimitedUploadHandler(None, limits=lambda user: (0, uploads.TOO_LARGE))
    handler.limit = 10 * 64 * 1024
    handler.new_file("file", "big.txt", "text/plain", None)
    chunk = b"a" * handler.chunk_size
    fed = 0

    def feed() -> None:
        nonlocal fed
        for _ in range(1000):  # 64 MB offered
            handler.receive_data_chunk(chunk, fed)
            fed += len(chunk)

    with pytest.raises(StopUpload) as stopped:
        feed()
    assert not stopped.value.connection_reset
    assert fed == handler.limit  # the 11th chunk was refused; 989 were never read
    assert handler.refused is not None
    assert handler.refused.code == uploads.TOO_LARGE


def test_a_declared_length_over_the_limit_is_refused_before_reading(api, settings, files_root):
    settings.NUMINA_FILE_MAX_BYTES = 1024
    response = upload(api, b"a" * (200 * 1024), name="big.txt")
    assert response.status_code == 400
    assert_nothing_stored(files_root)


def test_quota(api, settings, files_root):
    first = samples.png()
    settings.NUMINA_FILE_QUOTA_BYTES = len(first) + 100
    assert upload(api, first).status_code == 201
    response = upload(api, samples.png(65, 48))
    assert response.status_code == 400
    assert "quota" in response.json()["file"][0]
    assert UserFile.objects.count() == 1
    assert len(stored_files(files_root)) == 1


def test_quota_is_per_user(api, settings, other_user, token_for):
    from rest_framework.test import APIClient

    data = samples.png()
    settings.NUMINA_FILE_QUOTA_BYTES = len(data)
    assert upload(api, data).status_code == 201
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(other_user)}")
    assert upload(other, data).status_code == 201


def test_no_file_field(api):
    response = api.post("/api/v1/files/", {"other": "x"}, format="multipart")
    assert response.status_code == 400
    assert response.json() == {"file": ["No file was submitted."]}


def test_anonymous_upload_is_refused_and_nothing_stored(anon_api, files_root):
    response = upload(anon_api, samples.png())
    assert response.status_code in (401, 403)
    assert_nothing_stored(files_root)


def test_session_upload_with_csrf(session_api, files_root):
    # The CSRF check of a session reads the body first: it still streams through the
    # bounded handler and the name check.
    assert upload(session_api, samples.png()).status_code == 201
    assert raw_upload(session_api, samples.png(), filename="../x.png").status_code == 400


def test_download_is_a_hardened_attachment(api):
    data = samples.png()
    file_id = upload(api, data, name='we"ird; name.png').json()["id"]
    response = api.get(f"/api/v1/files/{file_id}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert '"we"' not in disposition
    assert "\n" not in disposition


def test_a_text_file_that_is_html_inside_is_never_served_as_html(api):
    # Text that starts like prose but holds markup later is text/plain, as an attachment.
    file_id = upload(api, b"hello <script>alert(1)</script>", name="x.html").json()["id"]
    response = api.get(f"/api/v1/files/{file_id}/")
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"].startswith("attachment")


def test_other_users_files_are_404_for_download_and_delete(api, other_user, token_for):
    from rest_framework.test import APIClient

    file_id = upload(api, samples.png()).json()["id"]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(other_user)}")
    missing = other.get("/api/v1/files/00000000-0000-0000-0000-000000000000/")
    for response in (
        other.get(f"/api/v1/files/{file_id}/"),
        other.delete(f"/api/v1/files/{file_id}/"),
    ):
        assert response.status_code == 404
        assert response.json() == missing.json()
    assert api.get(f"/api/v1/files/{file_id}/").status_code == 200


def test_delete(api, files_root, django_capture_on_commit_callbacks):
    file_id = upload(api, samples.png()).json()["id"]
    assert len(stored_files(files_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/files/{file_id}/").status_code == 204
    assert api.get(f"/api/v1/files/{file_id}/").status_code == 404
    assert_nothing_stored(files_root)  # the bytes go once the deletion has committed


def test_clean_name_directly():
    assert uploads.clean_name("  photo.png ") == "photo.png"
    for bad in ("", "   ", "..", ". .", None, 3):
        with pytest.raises(ValidationError):
            uploads.clean_name(bad)


def test_sniff():
    assert uploads.sniff(samples.png()[:64]) == "image/png"
    assert uploads.sniff(b"RIFF\x00\x00\x00\x00WAVE") is None
    assert uploads.sniff(io.BytesIO(b"%PDF-1.4").read()) == "application/pdf"
