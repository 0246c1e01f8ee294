"""Serving an uploaded file: the one answer the API and the browser UI both give.

Always streamed from the ``files`` storage (never a public URL, never the whole file in
memory), with the type judged at upload (never text/html: uploads.py refuses markup),
``X-Content-Type-Options: nosniff`` and a CSP that forbids everything, so a file opened
directly can neither run nor load anything as a page of this site.
"""

from __future__ import annotations

from django.core.files.storage import storages
from django.http import FileResponse

from .models import UserFile

# Served files are never pages: nothing in them runs or loads, even opened directly.
FILE_CSP = "default-src 'none'; sandbox"


def file_response(user_file: UserFile, *, inline: bool = False) -> FileResponse:
    """The file's bytes from storage, streamed, as an attachment (``inline`` only for
    the images the browser UI shows as thumbnails; never HTML either way)."""
    response = FileResponse(
        storages["files"].open(user_file.storage_name, "rb"),
        as_attachment=not inline,
        filename=user_file.name,
        content_type=user_file.content_type,
    )
    response["Content-Length"] = str(user_file.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    response["Cache-Control"] = "private, no-store"
    return response
