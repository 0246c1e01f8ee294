"""Helpers for the import tests: the fixture files, uploads, and archives built with zipfile."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "imports"
IMPORT = "/api/v1/import/"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


def upload(api, data: bytes, name: str = "export.json"):
    return api.post(IMPORT, {"file": SimpleUploadedFile(name, data)}, format="multipart")


def zip_of(entries: dict[str, bytes | str], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def numina_archive(documents: list[dict]) -> bytes:
    """Numina's archive as issue 15 describes it: manifest.json, and per conversation its
    one-conversation export JSON and Markdown."""
    manifest = {
        "format": "numina-export",
        "version": 1,
        "exported_at": "2026-12-01T00:00:00+00:00",
        "conversations": [
            {
                "id": doc["conversation"]["id"],
                "title": doc["conversation"]["title"],
                "json": f"conversations/{doc['conversation']['id']}.json",
                "markdown": f"conversations/{doc['conversation']['id']}.md",
            }
            for doc in documents
        ],
    }
    entries: dict[str, bytes | str] = {"manifest.json": json.dumps(manifest)}
    for doc in documents:
        conversation_id = doc["conversation"]["id"]
        entries[f"conversations/{conversation_id}.json"] = json.dumps(doc)
        entries[f"conversations/{conversation_id}.md"] = f"# {doc['conversation']['title']}\n"
    return zip_of(entries)
