"""Real files made on the spot for the upload tests: PNG/JPEG/GIF/WebP by Pillow, PDFs by
pypdf, and the hostile ones (a lying header, a decompression bomb, markup named .png)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image
from pypdf import PdfWriter


def image_bytes(
    *, width: int = 64, height: int = 48, fmt: str = "PNG", color=(200, 30, 30)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format=fmt)
    return buffer.getvalue()


def png(width: int = 64, height: int = 48) -> bytes:
    return image_bytes(width=width, height=height, fmt="PNG")


def pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def lying_png() -> bytes:
    """PNG's magic bytes, then nothing a PNG decoder can read."""
    return b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 20


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG whose header claims width x height pixels: a decompression bomb for a
    decoder that believes it (Pillow refuses it by MAX_IMAGE_PIXELS before decoding)."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    data = zlib.compress(row * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def store(user, data: bytes | None = None, name: str = "photo.png"):
    """A file of ``user``'s stored through the service, as an upload leaves it (the
    handler's temp file carries its SHA-256): for tests that do not exercise the upload."""
    import hashlib

    from django.core.files.uploadedfile import SimpleUploadedFile

    from conversations.services import files as file_services

    data = png() if data is None else data
    upload = SimpleUploadedFile(name, data)
    upload.sha256 = hashlib.sha256(data).hexdigest()  # type: ignore[attr-defined]
    return file_services.store_upload(user=user, upload=upload, name=name)
