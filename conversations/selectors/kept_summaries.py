"""Which summary a branch uses: the deepest kept summary whose last message is on it.

A summary covers the path from the first message down to its ``covers`` message; it is
valid for a branch iff that message is an ancestor-or-self of the branch's leaf. The
candidates are the conversation's kept summaries (``ConversationSummary``, a few) and
the copy on the conversation row (``summary`` / ``summary_covers_seq``: what an import
or an older version wrote may be there without a kept row). One query whatever the depth
of the tree: a walk up from the leaf that stops at the shallowest candidate's depth
(``Message.depth`` says how far that is), joined with the candidates.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection

from ..models import Conversation, ConversationSummary, Message

# Deeper than any message: "no candidate to walk down to", so the walk stays at the leaf.
_NO_DEPTH = 2_147_483_647
# Candidates of equal depth: the conversation's copy before a kept row, then the newest.
_SHOWN, _KEPT = 0, 1


@dataclass(frozen=True)
class BranchSummary:
    """The summary a branch uses (``text`` empty: none) and the branch's length."""

    text: str = ""
    # The seq and depth of the last message it covers (0: none). ``depth`` is how many
    # of the branch's messages it stands for.
    covers_seq: int = 0
    depth: int = 0
    # How many messages the branch has (the leaf's depth; 0 without a leaf).
    leaf_depth: int = 0
    # The kept row it comes from; None when it is the conversation's own copy (or none).
    kept_id: int | None = None

    def outside(self, *, recent: int) -> int:
        """The branch's messages after the summary and before the ``recent`` newest."""
        return self.leaf_depth - recent - self.depth


def _key(value: uuid.UUID) -> Any:
    # The SQLite embedded default stores UUIDs as 32 hex digits; raw SQL must match it.
    return value.hex if connection.vendor == "sqlite" else value


def for_branch(*, conversation: Conversation, leaf_id: uuid.UUID | None) -> BranchSummary:
    """The summary valid for the branch that ends at ``leaf_id`` (of a conversation the
    caller holds through ``access``), the deepest of them; one query, none without a
    leaf. Never one whose messages are not all on that branch."""
    shown = conversation.summary if conversation.summary.strip() else ""
    # The conversation's copy covering no message stands before every branch.
    everywhere = (
        BranchSummary(text=shown) if shown and not conversation.summary_covers_seq else None
    )
    if leaf_id is None:
        return everywhere or BranchSummary()
    messages = connection.ops.quote_name(Message._meta.db_table)
    summaries = connection.ops.quote_name(ConversationSummary._meta.db_table)
    conversation_key = _key(conversation.id)
    with connection.cursor() as cursor:
        # The models' quoted table names; every value is a parameter. No message has
        # seq 0, so a copy that covers none (or no copy) adds no candidate row.
        cursor.execute(
            f"WITH RECURSIVE candidate(kept_id, covers_id, depth, kind, created_at) AS ("  # noqa: S608
            f"SELECT id, covers_id, depth, {_KEPT}, created_at FROM {summaries} "
            f"WHERE conversation_id = %s "
            f"UNION ALL SELECT NULL, id, depth, {_SHOWN}, NULL FROM {messages} "
            f"WHERE conversation_id = %s AND seq = %s"
            f"), up(id, parent_id, seq, depth) AS ("
            f"SELECT id, parent_id, seq, depth FROM {messages} "
            f"WHERE id = %s AND conversation_id = %s "
            f"UNION ALL SELECT m.id, m.parent_id, m.seq, m.depth FROM {messages} m "
            f"JOIN up ON m.id = up.parent_id WHERE up.depth > ("
            f"SELECT COALESCE(MIN(depth), {_NO_DEPTH}) FROM candidate WHERE covers_id IS NOT NULL)"
            f") SELECT (SELECT MAX(depth) FROM up), best.kept_id, best.seq, best.depth, "
            f"best.kind, (SELECT text FROM {summaries} WHERE id = best.kept_id) "
            f"FROM (SELECT 1) AS one LEFT JOIN ("
            f"SELECT c.kept_id, COALESCE(up.seq, 0) AS seq, c.depth, c.kind FROM candidate c "
            f"LEFT JOIN up ON up.id = c.covers_id WHERE c.covers_id IS NULL OR up.id IS NOT NULL "
            f"ORDER BY c.depth DESC, c.kind, c.created_at DESC, c.kept_id DESC LIMIT 1"
            f") AS best ON 1 = 1",
            [
                conversation_key,
                conversation_key,
                conversation.summary_covers_seq if shown else 0,
                _key(leaf_id),
                conversation_key,
            ],
        )
        leaf_depth, kept_id, seq, depth, kind, kept_text = cursor.fetchone()
    leaf_depth = leaf_depth or 0
    if kind is None or (depth == 0 and everywhere is not None):
        # Nothing on the branch, or only a kept summary of no message, which the
        # conversation's own copy of no message takes precedence over.
        found = everywhere or BranchSummary()
        return BranchSummary(text=found.text, leaf_depth=leaf_depth)
    return BranchSummary(
        text=kept_text if kind == _KEPT else shown,
        covers_seq=seq,
        depth=depth,
        leaf_depth=leaf_depth,
        kept_id=kept_id if kind == _KEPT else None,
    )
