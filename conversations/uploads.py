"""Receiving an uploaded file safely: streamed, bounded, hashed, and judged by its bytes.

``LimitedUploadHandler`` is a Django upload handler: the multipart parser hands it the
upload chunk by chunk, and it writes each one to a temporary file on disk (never the
whole file in memory) while it feeds SHA-256 and counts the bytes. Past the limit (the
smaller of NUMINA_FILE_MAX_BYTES and what is left of the user's quota) it stops the
upload at once (``StopUpload``): nothing more of it is written, and the view answers 400.
A request whose declared length is already over is refused before a byte is read.

``inspect`` then judges the type from the content alone (``sniff``: magic bytes, never
the name or the client's Content-Type), and verifies it: Pillow for images (its
decompression-bomb limit included, and its format must be the one the bytes claim),
pypdf for PDFs, strict UTF-8 without NUL or markup for text. ``clean_name`` makes the
display name safe (no path, no control characters); the name on disk is opaque anyway.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import html
import json
import os
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# The multipart field the upload comes in (API.md: multipart `file`).
FIELD = "file"

PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
PDF = "application/pdf"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
CSV = "text/csv"
JSON = "application/json"

IMAGE_TYPES = (PNG, JPEG, GIF, WEBP)
TEXT_TYPES = (TEXT, MARKDOWN, CSV, JSON)
# Pillow's name of each image format, to hold the decoder to what the bytes claim.
PILLOW_FORMATS = {PNG: "PNG", JPEG: "JPEG", GIF: "GIF", WEBP: "WEBP"}
# Text files are told apart by their name (the content is checked to be text either way,
# and every download is an attachment, so a name cannot make a file dangerous).
TEXT_BY_EXTENSION = {".md": MARKDOWN, ".markdown": MARKDOWN, ".csv": CSV, ".json": JSON}
# The start of a text file that a browser or an XML reader would take for markup.
MARKUP_STARTS = (b"<",)
MAX_NAME_LENGTH = 200
SNIFF_BYTES = 64
READ_CHUNK = 64 * 1024

TOO_LARGE = "too_large"
OVER_QUOTA = "over_quota"


class UploadRefused(Exception):
    """The upload was stopped while it streamed in: ``code`` is ``too_large`` or
    ``over_quota``; ``limit`` the bytes allowed."""

    def __init__(self, *, code: str, limit: int) -> None:
        super().__init__(code)
        self.code = code
        self.limit = limit


class LimitedUploadHandler(FileUploadHandler):
    """Streams the one ``file`` field to a temporary file, hashing and counting as it goes.

    ``limits(user)`` gives ``(bytes allowed, code)`` once the body starts to be read: by
    then the request's user is known (a session's from the middleware, a token's from
    DRF), and the quota needs it. ``refused`` is set when the upload was stopped. Any
    other file field is skipped unread.
    """

    chunk_size = 64 * 1024

    def __init__(self, request: Any = None, *, limits: Callable[[Any], tuple[int, str]]) -> None:
        super().__init__(request)
        self.limits = limits
        self.limit = 0
        self.limit_code = TOO_LARGE
        self.refused: UploadRefused | None = None
        # Why the client's file name was refused (set by NameCheckingParser).
        self.name_error: str | None = None
        self.received = 0
        self._digest: Any = None
        self._file: TemporaryUploadedFile | None = None

    def _refuse(self) -> None:
        self.refused = UploadRefused(code=self.limit_code, limit=self.limit)
        if self._file is not None:
            self._file.close()  # a NamedTemporaryFile: closing it removes it
            self._file = None
        # connection_reset=False: Django reads the rest of the body and drops it (never
        # storing it), so the client still gets its 400.
        raise StopUpload(connection_reset=False)

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        user = getattr(self.request, "user", None)
        if user is not None and user.is_authenticated:
            self.limit, self.limit_code = self.limits(user)
        # Anonymous: nothing is written (the view answers 401/403 anyway). A declared
        # length over the limit (with room for the multipart framing) needs no reading.
        if content_length and content_length > self.limit + 64 * 1024:
            self.refused = UploadRefused(code=self.limit_code, limit=self.limit)
        return None

    def new_file(self, field_name, file_name, content_type, content_length, charset=None, *a):
        if field_name != FIELD or self._file is not None:
            raise SkipFile
        if self.refused is not None:
            raise StopUpload(connection_reset=False)
        super().new_file(field_name, file_name, content_type, content_length, charset)
        self._digest = hashlib.sha256()
        self._file = TemporaryUploadedFile(
            "upload", "application/octet-stream", 0, None, content_type_extra=None
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self._file is None:
            return None
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
        self._digest.update(raw_data)
        self._file.write(raw_data)
        return None

    def file_complete(self, file_size: int):
        if self._file is None:
            return None
        upload = self._file
        upload.seek(0)
        upload.size = file_size
        upload.name = self.file_name or ""
        upload.sha256 = self._digest.hexdigest()  # type: ignore[attr-defined]
        return upload


@dataclass(frozen=True)
class Inspected:
    content_type: str
    width: int | None = None
    height: int | None = None
    pages: int | None = None


def sniff(head: bytes) -> str | None:
    """The binary type the first bytes announce, or None (perhaps text)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def _verify_image(stream: IO[bytes], content_type: str) -> Inspected:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = settings.NUMINA_IMAGE_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            # Between one and two times the limit Pillow only warns: refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            stream.seek(0)
            with Image.open(stream) as image:
                if image.format != PILLOW_FORMATS[content_type]:
                    raise ValidationError("The file is not the image its first bytes claim.")
                width, height = image.size
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValidationError(
            f"The image has too many pixels (at most {settings.NUMINA_IMAGE_MAX_PIXELS})."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise ValidationError("The file is not a valid image.") from None
    if not width or not height:
        raise ValidationError("The file is not a valid image.")
    return Inspected(content_type, width=width, height=height)


def _verify_pdf(stream: IO[bytes]) -> Inspected:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    stream.seek(0)
    try:
        pages = len(PdfReader(stream, strict=False).pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError):
        raise ValidationError("The file is not a valid PDF.") from None
    if pages < 1:
        raise ValidationError("The PDF has no pages.")
    return Inspected(PDF, pages=pages)


def _verify_text(stream: IO[bytes], *, name: str) -> Inspected:
    """Strict UTF-8 throughout, no NUL, and not markup (HTML, SVG, XML): decoded in
    chunks, so a large text costs one chunk of memory."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    head = b""
    try:
        while chunk := stream.read(READ_CHUNK):
            if b"\x00" in chunk:
                raise ValidationError("This type of file is not allowed.")
            if len(head) < 1024:
                head += chunk[: 1024 - len(head)]
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ValidationError("This type of file is not allowed.") from None
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if start.startswith(MARKUP_STARTS):
        raise ValidationError("HTML, SVG and XML files are not allowed.")
    content_type = TEXT_BY_EXTENSION.get(os.path.splitext(name)[1].lower(), TEXT)
    if content_type == JSON:
        stream.seek(0)
        try:
            json.load(stream)
        except (ValueError, RecursionError):
            content_type = TEXT
    return Inspected(content_type)


def inspect(stream: IO[bytes], *, name: str) -> Inspected:
    """The file's type, judged and verified from its content; ``ValidationError`` when
    it is not an allowed type or not what it claims to be."""
    stream.seek(0)
    kind = sniff(stream.read(SNIFF_BYTES))
    if kind in IMAGE_TYPES:
        found = _verify_image(stream, kind)
    elif kind == PDF:
        found = _verify_pdf(stream)
    else:
        found = _verify_text(stream, name=name)
    if found.content_type not in settings.NUMINA_FILE_ALLOWED_TYPES:
        raise ValidationError("This type of file is not allowed.")
    stream.seek(0)
    return found


def clean_name(name: Any) -> str:
    """A display name safe to show and to put in a Content-Disposition, or
    ``ValidationError``: a name with a path in it (``../``, either slash), control or
    format characters, or nothing but dots and spaces is refused rather than guessed at;
    a long one is cut to MAX_NAME_LENGTH characters, its extension kept."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("The file needs a name.")
    name = unicodedata.normalize("NFC", name).strip()
    if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in name):
        raise ValidationError("The file name has control characters.")
    if "/" in name or "\\" in name or not name.strip(". "):
        raise ValidationError("The file name may not contain a path.")
    if len(name) > MAX_NAME_LENGTH:
        stem, extension = os.path.splitext(name)
        extension = extension[:16]
        name = stem[: MAX_NAME_LENGTH - len(extension)] + extension
    return name


class NameCheckingParser(DjangoMultiPartParser):
    """Django's multipart parser, which quietly cuts a file name down to its last part and
    drops unprintable characters; this one also tells the upload handler when it had to,
    so a name with ``../`` or control characters is refused (400), not silently renamed."""

    def sanitize_file_name(self, file_name):
        try:
            clean_name(html.unescape(file_name))
        except ValidationError as exc:
            for handler in self._upload_handlers:  # type: ignore[attr-defined]  # set by Django's __init__
                if isinstance(handler, LimitedUploadHandler):
                    handler.name_error = exc.messages[0]
        return super().sanitize_file_name(file_name) or "upload"


class FileUploadParser(parsers.MultiPartParser):
    """DRF's multipart parser with ``NameCheckingParser`` (for token-authenticated uploads,
    whose body DRF parses)."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {})["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = NameCheckingParser(meta, stream, request.upload_handlers, "utf-8")
            data, files = parser.parse()
        except Exception as exc:  # MultiPartParserError and the like: a bad body
            from django.http.multipartparser import MultiPartParserError

            if isinstance(exc, MultiPartParserError):
                raise ParseError(f"Multipart form parse error - {exc}") from None
            raise
        return parsers.DataAndFiles(data, files)


def _parse_file_upload(request, META, post_data):
    # HttpRequest.parse_file_upload with NameCheckingParser: a session-authenticated
    # upload is parsed by the CSRF check, before DRF's parser is ever asked.
    parser = NameCheckingParser(META, post_data, request.upload_handlers, request.encoding)
    return parser.parse()


def prepare(request: Any, *, handler: LimitedUploadHandler) -> None:
    """Make the Django ``request`` stream its upload through ``handler`` (call it before
    anything reads the body: the CSRF check of a session reads it)."""
    request.upload_handlers = [handler]
    request.parse_file_upload = functools.partial(_parse_file_upload, request)
