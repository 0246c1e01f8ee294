"""A branch's rolling summary: what the context sends in place of its old messages.

Summaries follow the current branch. Once more than ``NUMINA_SUMMARY_THRESHOLD`` of its
messages sit before the recent window (``NUMINA_CONTEXT_RECENT_MESSAGES``) and after the
summary the branch uses (selectors/kept_summaries.py), the model folds them, and only
them, into a new summary of the branch: of the path down to the last message folded. It
is kept (branch_summaries.py, the newest few per conversation, so a switch back to a
branch finds its summary again) and, while that message is on the current branch, shown
on the conversation. A branch switched to without a valid summary is summarized the same
way: the next chat reply asks (``needs_summary``), or else the sweeper.

The model is asked outside any transaction; the result is written under the
conversation's row lock and only when it covers more of its branch than the branch has
by then, so a branch's summary only moves forward and two runs at once leave one summary.

One run folds at most ``NUMINA_SUMMARY_BATCH`` messages and ``NUMINA_SUMMARY_INPUT_MAX_CHARS``
characters of them (each quoted up to ``llm.QUOTE_CHARS``), after a previous summary of at
most ``NUMINA_SUMMARY_MAX_CHARS``, so a long imported history never makes one prompt too
large for the model; it asks for the next run after commit. The model's tokens come out of
the owner's daily budget (spend.py); over it, the summary waits for the next day and the
context meanwhile keeps the recent window as it is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import ExpressionWrapper, F, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Left
from django.utils import timezone

from numina import metrics

from .. import access, followups, llm, validation
from ..models import Conversation, Message
from ..selectors import branches, kept_summaries
from . import branch_summaries, spend
from .assistant import needs_summary
from .conversations import save_changed


@dataclass(frozen=True)
class _Reached:
    """The last message a batch folds: the new summary covers the path down to it."""

    id: uuid.UUID
    depth: int


def _batch(
    *,
    conversation: Conversation,
    leaf_id: uuid.UUID,
    used: kept_summaries.BranchSummary,
    covers: int,
) -> tuple[list[dict], _Reached | None]:
    """The branch's messages after its summary down to depth ``covers``, and the message
    the batch really reaches: each is read only as far as the prompt quotes it
    (llm.QUOTE_CHARS), and the batch stops once NUMINA_SUMMARY_INPUT_MAX_CHARS are taken,
    so one prompt is bounded however long the messages are; the rest waits for the next
    run. Only messages of the branch ending at ``leaf_id``: never another branch's."""
    room = settings.NUMINA_SUMMARY_INPUT_MAX_CHARS
    messages: list[dict] = []
    reached = None
    rows = (
        branches.branch(
            conversation_id=conversation.id,
            leaf_id=leaf_id,
            limit=max(used.leaf_depth - used.depth, 0),
        )
        .filter(depth__gt=used.depth, depth__lte=covers)
        .values_list("id", "depth", "role", Left("content", llm.QUOTE_CHARS + 1))
    )
    for message_id, depth, role, content in rows:
        if messages and len(content) > room:
            break
        messages.append({"role": role, "content": content})
        room -= len(content)
        reached = _Reached(id=message_id, depth=depth)
    return messages, reached


def summarize_conversation(*, user, conversation_id: Any) -> Conversation:
    """Fold the current branch's messages before the recent window into a new summary of
    the branch, when enough wait.

    Raises ``llm.LLMError`` when the model fails (the stored summaries are untouched),
    and ``spend.TokenBudgetExceeded`` when the owner's budget for today is spent.
    """
    conversation = access.conversation_for(user=user, conversation_id=conversation_id)
    leaf_id = conversation.current_message_id
    used = kept_summaries.for_branch(conversation=conversation, leaf_id=leaf_id)
    if leaf_id is None or not needs_summary(conversation, used=used):
        return conversation
    covers = min(
        used.leaf_depth - settings.NUMINA_CONTEXT_RECENT_MESSAGES,
        used.depth + settings.NUMINA_SUMMARY_BATCH,
    )
    messages, reached = _batch(conversation=conversation, leaf_id=leaf_id, used=used, covers=covers)
    if reached is None:
        return conversation
    spend.ensure_within_budget(user=user)
    completion = llm.get_provider().summarize(
        previous_summary=validation.bounded_summary(used.text), messages=messages
    )
    spend.record_usage(user=user, completion=completion)
    summary = validation.bounded_summary(completion.text).strip()
    if not summary:
        return conversation
    with transaction.atomic():
        conversation = access.conversation_for(
            user=user, conversation_id=conversation_id, lock=True
        )
        # Only forward: another run may have covered as much of this branch meanwhile.
        if kept_summaries.for_branch(conversation=conversation, leaf_id=leaf_id).depth >= (
            reached.depth
        ):
            return conversation
        branch_summaries.keep(
            conversation=conversation, covers_id=reached.id, depth=reached.depth, text=summary
        )
        transaction.on_commit(lambda: metrics.summaries.labels(outcome="generated").inc())
        # Shown when it is on the current branch; the user may have switched away while
        # the model wrote it, and then it waits, kept, for a switch back.
        fields = branch_summaries.show_for_current_branch(conversation)
        if fields:
            save_changed(conversation, fields=fields)
        if needs_summary(conversation):
            followups.after_commit_summarize(conversation_id=conversation.id)
        return conversation


def conversations_needing_summary(*, limit: int) -> list:
    """Ids of conversations whose current branch has enough unsummarized messages outside
    the recent window, but not those of owners over today's token budget: they wait for
    tomorrow. Reads the conversation's copy of its branch's summary (the message it
    covers gives its depth); summarize_conversation checks the branch again."""
    idle_since = timezone.now() - timedelta(seconds=settings.NUMINA_SWEEP_GRACE)
    backlog = settings.NUMINA_CONTEXT_RECENT_MESSAGES + settings.NUMINA_SUMMARY_THRESHOLD
    covered = Coalesce(
        Subquery(
            Message.objects.filter(
                conversation=OuterRef("pk"), seq=OuterRef("summary_covers_seq")
            ).values("depth")[:1]
        ),
        Value(0),
        output_field=IntegerField(),
    )
    return list(
        # message_count first: no branch is longer than all the messages.
        Conversation.objects.untrashed()
        .filter(message_count__gte=backlog, last_activity_at__lt=idle_since)
        .annotate(
            outside=ExpressionWrapper(
                F("current_message__depth") - covered, output_field=IntegerField()
            )
        )
        .filter(outside__gte=backlog)
        .exclude(owner__in=spend.owners_over_budget())
        .order_by("last_activity_at")
        .values_list("id", flat=True)[:limit]
    )
