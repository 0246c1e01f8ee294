"""The S3 path (issue 17): the same uploads, downloads, chat blocks and deletions against
a real S3-compatible server started here — moto's server mode on a loopback port, spoken
to over HTTP by django-storages' S3Storage and boto3, exactly as AWS S3 or MinIO would be."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import UserFile
from tests.files import samples

pytestmark = pytest.mark.django_db

BUCKET = "numina-test-files"
KEYS = {"access_key": "testing-access", "secret_key": "testing-secret"}


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(settings, s3_server):
    """STORAGES["files"] as settings.py builds it for NUMINA_FILES_S3_BUCKET, pointed at
    the loopback server, with a fresh bucket per test."""
    import boto3

    bucket = f"{BUCKET}-{uuid.uuid4().hex[:8]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id=KEYS["access_key"],
        aws_secret_access_key=KEYS["secret_key"],
    )
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                **KEYS,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
    }
    client.bucket = bucket
    return client


def keys(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket=s3.bucket)
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_upload_download_and_delete_through_s3(api, s3, django_capture_on_commit_callbacks):
    data = samples.png(320, 200)
    response = api.post(
        "/api/v1/files/",
        {"file": SimpleUploadedFile("plot.png", data, content_type="image/png")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    row = UserFile.objects.get(id=response.json()["id"])
    # The object key is opaque, never the user's name.
    assert keys(s3) == [row.storage_name]
    assert row.storage_name == f"files/{row.sha256[:2]}/{row.id.hex}"
    assert s3.get_object(Bucket=s3.bucket, Key=row.storage_name)["Body"].read() == data

    download = api.get(f"/api/v1/files/{row.id}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data
    assert download["X-Content-Type-Options"] == "nosniff"

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/files/{row.id}/").status_code == 204
    assert keys(s3) == []


def test_a_refused_upload_leaves_nothing_in_the_bucket(api, s3):
    response = api.post(
        "/api/v1/files/",
        {"file": SimpleUploadedFile("x.png", samples.lying_png(), content_type="image/png")},
        format="multipart",
    )
    assert response.status_code == 400
    assert keys(s3) == []


def test_chat_sends_the_bytes_read_back_from_s3(api, s3, claude):
    data = samples.pdf(1)
    file_id = api.post(
        "/api/v1/files/",
        {"file": SimpleUploadedFile("r.pdf", data, content_type="application/pdf")},
        format="multipart",
    ).json()["id"]
    response = api.post(
        "/api/v1/chat/", {"message": "read", "attachments": [f"file:{file_id}"]}, format="json"
    )
    assert response.status_code == 201
    document = claude.requests[0].body["messages"][0]["content"][0]
    assert document["source"]["data"] == base64.b64encode(data).decode()


def test_settings_build_the_s3_storage_from_the_environment(tmp_path):
    """NUMINA_FILES_S3_* (README "Files") become STORAGES["files"] as a fresh process
    reads them; without a bucket, the local disk under var/media."""
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.STORAGES['files']))"
    )
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "numina.settings"}
    with_s3 = {
        **base,
        "NUMINA_FILES_S3_BUCKET": "my-bucket",
        "NUMINA_FILES_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "NUMINA_FILES_S3_REGION": "eu-west-1",
        "NUMINA_FILES_S3_ACCESS_KEY": "minio",
        "NUMINA_FILES_S3_SECRET_KEY": "minio-secret",
        "NUMINA_FILES_S3_ADDRESSING_STYLE": "path",
    }
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], env=with_s3, capture_output=True, check=True, text=True
        ).stdout
    )
    assert found["BACKEND"] == "storages.backends.s3.S3Storage"
    assert found["OPTIONS"]["bucket_name"] == "my-bucket"
    assert found["OPTIONS"]["endpoint_url"] == "http://127.0.0.1:9000"
    assert found["OPTIONS"]["addressing_style"] == "path"
    assert found["OPTIONS"]["default_acl"] is None
    local = json.loads(
        subprocess.run(
            [sys.executable, "-c", script],
            env={k: v for k, v in base.items() if not k.startswith("NUMINA_FILES_S3")},
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    )
    assert local["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert local["OPTIONS"]["location"].endswith("var/media")
