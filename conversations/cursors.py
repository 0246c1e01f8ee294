"""Opaque cursors that a client hands back: the sidebar's page cursor and the sync token.

Each is a short text in URL-safe base64 without padding, so it travels in a query string
as it is and a client treats it as opaque instead of building it. Decoding trusts none of
it: anything that is not a cursor this server wrote raises ``InvalidCursor``, and the
caller decides what that means (the sidebar starts from the top, sync answers 400).
DRF's CursorPagination keeps its own encoding for the API's lists (api/views.py).
"""

from __future__ import annotations

import base64
import binascii
import math
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from . import validation

SYNC_TOKEN_VERSION = "v1"  # noqa: S105 (a format tag, not a secret)
# A point inside one change: after its conversation (or deletion) and its messages up to
# a seq. Only sync with messages writes these (one write may store 10,000 messages, more
# than a page holds); every reader of the stream accepts both.
SYNC_TOKEN_IN_CHANGE = "v2"  # noqa: S105 (a format tag, not a secret)
# Change numbers are PostgreSQL bigints; a message's seq a PositiveIntegerField.
MAX_CHANGE_NUMBER = 2**63 - 1
MAX_MESSAGE_SEQ = 2**31 - 1


class InvalidCursor(ValueError):
    """A cursor or token this server did not write, or one it can no longer read."""


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidCursor(cursor) from None


def moment_cursor(*, moment: datetime, conversation_id: uuid.UUID) -> str:
    """The cursor of a page of conversations ordered by (a moment, id), newest first,
    that follows this conversation: the sidebar's (last activity) and the trash page's
    (when trashed)."""
    return _encode(f"{moment.isoformat()}|{conversation_id}")


def moment_position(*, cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (moment, id) a ``moment_cursor`` points after."""
    moment, _, conversation_id = _decode(cursor).partition("|")
    try:
        return datetime.fromisoformat(moment), uuid.UUID(conversation_id)
    except ValueError:
        raise InvalidCursor(cursor) from None


def newest_first_page(
    *, rows: QuerySet, moment_field: str, cursor: str | None, size: int
) -> tuple[list, str | None]:
    """One page of ``rows`` (ordered newest first by ``moment_field``, then id) after
    ``cursor``, and the cursor of the next page (None: this is the last). A garbled cursor
    starts from the top, as the browser's lists do. One query."""
    position = None
    if cursor:
        try:
            position = moment_position(cursor=cursor)
        except InvalidCursor:
            position = None
    if position is not None:
        moment, last_id = position
        rows = rows.filter(
            Q(**{f"{moment_field}__lt": moment}) | Q(**{moment_field: moment, "id__lt": last_id})
        )
    page = list(rows[: size + 1])
    last = page[size - 1] if size > 0 and len(page) > size else None
    next_cursor = (
        moment_cursor(moment=getattr(last, moment_field), conversation_id=last.id)
        if last is not None and getattr(last, moment_field) is not None
        else None
    )
    return page[:size], next_cursor


def sidebar_cursor(*, last_activity_at: datetime, conversation_id: uuid.UUID) -> str:
    """The cursor of the sidebar page that follows this conversation."""
    return moment_cursor(moment=last_activity_at, conversation_id=conversation_id)


def sidebar_position(*, cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (last_activity_at, id) a sidebar cursor points after."""
    return moment_position(cursor=cursor)


def search_cursor(*, rank: float, message_id: uuid.UUID) -> str:
    """The cursor of the sidebar's next page of message hits, ordered by (rank, id), best
    first, after this one. ``repr`` of a float reads back as the very same float, so the
    page boundary neither repeats nor skips a hit of equal rank."""
    return _encode(f"{rank!r}|{message_id}")


def search_position(*, cursor: str) -> tuple[float, uuid.UUID]:
    """The (rank, id) a ``search_cursor`` points after."""
    rank, _, message_id = _decode(cursor).partition("|")
    try:
        position = float(rank), uuid.UUID(message_id)
    except ValueError:
        raise InvalidCursor(cursor) from None
    if not math.isfinite(position[0]):
        raise InvalidCursor(cursor)
    return position


@dataclass(frozen=True)
class SyncPoint:
    """A place in a user's change stream. Within one change its conversation (or its
    deletion) comes first, then the messages it stored, by seq: the point is after
    change ``change`` and, when ``message_seq`` is set, only after that change's
    messages up to that seq (0: none of them yet); None: after all of the change."""

    change: int
    message_seq: int | None = None

    def key(self) -> tuple[int, int]:
        """The point as (change, seq) on the stream's order."""
        return self.change, MAX_MESSAGE_SEQ if self.message_seq is None else self.message_seq


def sync_token(*, position: int, message_seq: int | None = None) -> str:
    """The ``next_since`` that resumes the change stream after ``position`` (and, inside
    that change, after its message ``message_seq``; None: after the whole change)."""
    if message_seq is None:
        return _encode(f"{SYNC_TOKEN_VERSION}:{position}")
    return _encode(f"{SYNC_TOKEN_IN_CHANGE}:{position}:{message_seq}")


def sync_point(*, token: str) -> SyncPoint:
    """The point a sync token resumes after."""
    version, _, rest = _decode(token).partition(":")
    try:
        if version == SYNC_TOKEN_VERSION:
            return SyncPoint(change=validation.parse_count(rest, maximum=MAX_CHANGE_NUMBER))
        if version == SYNC_TOKEN_IN_CHANGE:
            change, separator, seq = rest.partition(":")
            if separator:
                return SyncPoint(
                    change=validation.parse_count(change, maximum=MAX_CHANGE_NUMBER),
                    message_seq=validation.parse_count(seq, maximum=MAX_MESSAGE_SEQ),
                )
    except ValidationError:
        pass
    raise InvalidCursor(token)


def sync_position(*, token: str) -> int:
    """The change number a sync token resumes after, for a reader of changes only: a
    point inside a change resumes after it (its conversation came before its messages)."""
    return sync_point(token=token).change
