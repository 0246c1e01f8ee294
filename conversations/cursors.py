"""Opaque cursors that a client hands back: the sidebar's page cursor and the sync token.

Each is a short text in URL-safe base64 without padding, so it travels in a query string
as it is and a client treats it as opaque instead of building it. Decoding trusts none of
it: anything that is not a cursor this server wrote raises ``InvalidCursor``, and the
caller decides what that means (the sidebar starts from the top, sync answers 400).
DRF's CursorPagination keeps its own encoding for the API's lists (api/pagination.py).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from django.core.exceptions import ValidationError

from . import validation

SYNC_TOKEN_VERSION = "v1"  # noqa: S105 (a format tag, not a secret)
# Change numbers are PostgreSQL bigints.
MAX_CHANGE_NUMBER = 2**63 - 1


class InvalidCursor(ValueError):
    """A cursor or token this server did not write, or one it can no longer read."""


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursor(cursor) from None


def sidebar_cursor(*, last_activity_at: datetime, conversation_id: uuid.UUID) -> str:
    """The cursor of the sidebar page that follows this conversation."""
    return _encode(f"{last_activity_at.isoformat()}|{conversation_id}")


def sidebar_position(*, cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (last_activity_at, id) a sidebar cursor points after."""
    moment, _, conversation_id = _decode(cursor).partition("|")
    try:
        return datetime.fromisoformat(moment), uuid.UUID(conversation_id)
    except ValueError:
        raise InvalidCursor(cursor) from None


def sync_token(*, position: int) -> str:
    """The ``next_since`` that resumes the change stream after ``position``."""
    return _encode(f"{SYNC_TOKEN_VERSION}:{position}")


def sync_position(*, token: str) -> int:
    """The change number a sync token resumes after."""
    version, _, position = _decode(token).partition(":")
    if version != SYNC_TOKEN_VERSION:
        raise InvalidCursor(token)
    try:
        return validation.parse_count(position, maximum=MAX_CHANGE_NUMBER)
    except ValidationError:
        raise InvalidCursor(token) from None
