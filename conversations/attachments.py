"""The files of a context, made into what the Messages API takes, just before it is asked.

A context (conversations/context.py) names each file it sends by a placeholder block
(``{"type": "file", "file": {...}}``): it is what the context endpoint shows and what the
cache keeps, small whatever the files hold. ``materialize`` reads each named file from
storage and puts the model's block in its place: an image as an ``image`` block and a
PDF as a ``document`` block (both base64), a text file as a ``text`` block holding its
contents. Files are read through ``access``, as the user's own.
"""

from __future__ import annotations

import base64
from typing import Any

from django.core.files.storage import storages

from . import access, uploads


def _read(user_file) -> bytes:
    with storages["files"].open(user_file.storage_name, "rb") as stored:
        return stored.read()


def _model_block(user_file, data: bytes) -> dict:
    if user_file.content_type in uploads.IMAGE_TYPES:
        return {
            "type": "image",
            "source": {
                "type": "base64",
                "media_type": user_file.content_type,
                "data": base64.b64encode(data).decode("ascii"),
            },
        }
    if user_file.content_type == uploads.PDF:
        return {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": uploads.PDF,
                "data": base64.b64encode(data).decode("ascii"),
            },
            "title": user_file.name,
        }
    text = data.decode("utf-8")
    return {"type": "text", "text": f"The file {user_file.name}:\n\n{text}"}


def materialize(*, user, messages: list[dict]) -> list[dict]:
    """The messages with every file placeholder replaced by the file itself; messages
    without files are passed on as they are (one query for all the files, none when
    there are none)."""
    wanted = [
        block["file"]["id"]
        for message in messages
        if not isinstance(message["content"], str)
        for block in message["content"]
        if block.get("type") == "file"
    ]
    if not wanted:
        return messages
    found = {str(f.id): f for f in access.files_for(user=user, file_ids=wanted)}
    made: list[dict[str, Any]] = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            made.append(message)
            continue
        blocks = []
        for block in content:
            if block.get("type") != "file":
                blocks.append(block)
                continue
            user_file = found.get(block["file"]["id"])
            if user_file is not None:
                blocks.append(_model_block(user_file, _read(user_file)))
        made.append({**message, "content": blocks})
    return made
