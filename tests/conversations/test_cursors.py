"""The one cursor module: what it writes it reads back, and anything else is refused."""

import base64
import uuid
from datetime import UTC, datetime

import pytest

from conversations import cursors

MOMENT = datetime(2026, 5, 17, 9, 30, 15, 123456, tzinfo=UTC)
CONVERSATION_ID = uuid.UUID("6f1c2a9e-58a4-4c1e-9d0b-2f3a4b5c6d7e")
NOT_A_CURSOR = ["%%%", "abc", "djE6", "djI6MTI", "w4g", "djE6LTE", "djE6wrI"]


def test_sidebar_cursor_reads_back_its_position():
    cursor = cursors.sidebar_cursor(last_activity_at=MOMENT, conversation_id=CONVERSATION_ID)

    assert "=" not in cursor
    assert cursors.sidebar_position(cursor=cursor) == (MOMENT, CONVERSATION_ID)


def test_sync_token_reads_back_its_change_number():
    token = cursors.sync_token(position=2**63 - 1)

    assert cursors.sync_position(token=token) == 2**63 - 1


@pytest.mark.parametrize("garbled", NOT_A_CURSOR)
def test_a_cursor_this_server_did_not_write_is_refused(garbled):
    with pytest.raises(cursors.InvalidCursor):
        cursors.sidebar_position(cursor=garbled)
    with pytest.raises(cursors.InvalidCursor):
        cursors.sync_position(token=garbled)


def test_a_search_cursor_reads_back_the_very_same_rank_and_id():
    message_id = uuid.uuid4()
    rank = 0.1 + 0.2  # not a short decimal: repr must keep every bit

    assert cursors.search_position(
        cursor=cursors.search_cursor(rank=rank, message_id=message_id)
    ) == (rank, message_id)


@pytest.mark.parametrize("text", ["", "abc|def", "nan|" + str(uuid.UUID(int=1)), "inf|x", "1.0"])
def test_a_search_cursor_this_server_did_not_write_is_refused(text):
    with pytest.raises(cursors.InvalidCursor):
        cursors.search_position(cursor=base64.urlsafe_b64encode(text.encode()).decode())
