"""A ZIP read with explicit bounds (the standard ``zipfile``, which trusts the archive).

Checked on the central directory before anything is inflated: the number of entries,
their total uncompressed size, each entry's compression ratio (a zip bomb is tiny and
inflates by thousands), and each name (no absolute path, no ``..``, no drive or
backslash: nothing is ever written to disk, but a name that tries is a hostile file).
A directory that lies about sizes is caught on reading: ``zipfile`` stops at the
declared size and the CRC check then fails, and each read is bounded again here.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from django.conf import settings

from .common import BadUpload

NOT_A_ZIP = "The file is not a readable ZIP (a truncated upload?)."
# Below this, an entry's ratio is not judged: a small, very repetitive file is no bomb,
# and the total bound still holds.
RATIO_FLOOR_BYTES = 1024 * 1024


def _safe_name(name: str) -> bool:
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return False
    path = PurePosixPath(name)
    return ".." not in path.parts and ":" not in path.parts[0]


class SafeZip:
    def __init__(self, data: bytes):
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
            raise BadUpload(NOT_A_ZIP) from None
        if len(infos) > settings.NUMINA_IMPORT_MAX_ENTRIES:
            raise BadUpload(
                f"The ZIP has more than {settings.NUMINA_IMPORT_MAX_ENTRIES} entries "
                "(NUMINA_IMPORT_MAX_ENTRIES)."
            )
        total = 0
        for info in infos:
            if not _safe_name(info.filename):
                raise BadUpload(f"The ZIP has an unsafe entry path: {info.filename[:200]!r}.")
            total += info.file_size
            ratio_limit = settings.NUMINA_IMPORT_MAX_RATIO
            if info.file_size > RATIO_FLOOR_BYTES and info.file_size > ratio_limit * max(
                info.compress_size, 1
            ):
                raise BadUpload(
                    f"The ZIP entry {info.filename[:200]!r} inflates more than {ratio_limit} "
                    "times (NUMINA_IMPORT_MAX_RATIO): refused as a zip bomb."
                )
        if total > settings.NUMINA_IMPORT_MAX_UNCOMPRESSED_BYTES:
            raise BadUpload(
                f"The ZIP inflates to more than {settings.NUMINA_IMPORT_MAX_UNCOMPRESSED_BYTES} "
                "bytes (NUMINA_IMPORT_MAX_UNCOMPRESSED_BYTES): refused as a zip bomb."
            )
        self._infos = {info.filename: info for info in infos if not info.is_dir()}

    @property
    def names(self) -> set[str]:
        return set(self._infos)

    def read(self, name: str) -> bytes:
        """One entry's bytes, never more than its directory declared."""
        info = self._infos.get(name)
        if info is None:
            raise BadUpload(f"The ZIP has no entry {name[:200]!r}.")
        try:
            with self._zip.open(info) as entry:
                data = entry.read(info.file_size + 1)
        except (zipfile.BadZipFile, RuntimeError, ValueError, EOFError, OSError):
            # RuntimeError: an encrypted entry; the others a damaged or lying archive.
            raise BadUpload(f"The ZIP entry {name[:200]!r} cannot be read.") from None
        if len(data) > info.file_size:
            raise BadUpload(f"The ZIP entry {name[:200]!r} is larger than it says.")
        return data
