"""Keeping a conversation's summaries, one per branch point, and showing the current
branch's one on the conversation row.

A conversation keeps its ``KEPT_PER_CONVERSATION`` newest summaries (the oldest go), so
switching back to a branch reuses the summary made for it instead of asking the model
again. ``Conversation.summary`` / ``summary_covers_seq`` hold a copy of the one the
current branch uses (selectors/kept_summaries.py): written here whenever the current
message moves to where another summary applies, inside the caller's transaction, on a
conversation whose row lock the caller holds; the caller saves the fields returned
(through ``save_changed``). Imports only models and selectors, so the conversation
services can call it.
"""

from __future__ import annotations

import uuid

from django.utils import timezone

from .. import validation
from ..models import Conversation, ConversationSummary, Message
from ..selectors import kept_summaries

KEPT_PER_CONVERSATION = 10


def keep(
    *, conversation: Conversation, covers_id: uuid.UUID | None, depth: int, text: str
) -> ConversationSummary:
    """Keep a summary of the path down to ``covers_id`` (None: of no message); the
    oldest beyond ``KEPT_PER_CONVERSATION`` are let go. Two queries."""
    kept = ConversationSummary.objects.create(
        conversation=conversation,
        covers_id=covers_id,
        depth=depth,
        text=validation.bounded_summary(text),
        created_at=timezone.now(),
    )
    newest = ConversationSummary.objects.filter(conversation=conversation).order_by(
        "-created_at", "-id"
    )
    ConversationSummary.objects.filter(
        conversation=conversation,
        pk__in=newest.values("pk")[KEPT_PER_CONVERSATION:],
    ).delete()
    return kept


def _keep_shown(conversation: Conversation) -> None:
    """Keep the conversation's copy before it is replaced, unless a kept row already
    covers the same message: an imported summary (written on the row alone) survives a
    switch to another branch and back."""
    covers: tuple[uuid.UUID, int] | None = None
    if conversation.summary_covers_seq:
        covers = (
            Message.objects.filter(conversation=conversation, seq=conversation.summary_covers_seq)
            .values_list("id", "depth")
            .first()
        )
        if covers is None:
            return  # it covers no stored message: nothing it could ever stand for
    same = ConversationSummary.objects.filter(conversation=conversation)
    same = same.filter(covers_id=covers[0]) if covers else same.filter(covers__isnull=True)
    if not same.exists():
        keep(
            conversation=conversation,
            covers_id=covers[0] if covers else None,
            depth=covers[1] if covers else 0,
            text=conversation.summary,
        )


def show_for_current_branch(conversation: Conversation) -> list[str]:
    """Copy the summary the (locked) conversation's current branch uses onto the row:
    the fields changed, for the caller's ``save_changed`` (none when it already shows
    it). The copy it replaces is kept first."""
    used = kept_summaries.for_branch(
        conversation=conversation, leaf_id=conversation.current_message_id
    )
    if (used.text, used.covers_seq) == (conversation.summary, conversation.summary_covers_seq):
        return []
    if conversation.summary.strip():
        _keep_shown(conversation)
    conversation.summary = used.text
    conversation.summary_covers_seq = used.covers_seq
    return ["summary", "summary_covers_seq"]
