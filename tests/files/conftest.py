"""The model fixtures of tests/conversations (the loopback Messages API, offline), and an
upload helper."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.conversations.conftest import claude, enqueued, offline  # noqa: F401  (fixtures)


@pytest.fixture
def upload_file():
    """Upload bytes through the API as the client's user: the file's id."""

    def upload(client, data: bytes, name: str = "photo.png", content_type: str = "image/png"):
        response = client.post(
            "/api/v1/files/",
            {"file": SimpleUploadedFile(name, data, content_type=content_type)},
            format="multipart",
        )
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return upload
