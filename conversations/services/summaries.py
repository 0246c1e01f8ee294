"""A conversation's rolling summary: what the context sends in place of old messages.

Once more than ``NUMINA_SUMMARY_THRESHOLD`` messages sit before the recent window
(``NUMINA_CONTEXT_RECENT_MESSAGES``) and after ``summary_covers_seq``, the model folds
them into the summary. The model is asked outside any transaction; the result is written
under the conversation's row lock and only when it covers more than what is stored, so
``summary_covers_seq`` only moves forward and two runs at once leave one summary.

One run folds at most ``NUMINA_SUMMARY_BATCH`` messages and ``NUMINA_SUMMARY_INPUT_MAX_CHARS``
characters of them (each quoted up to ``llm.QUOTE_CHARS``), after a previous summary of at
most ``NUMINA_SUMMARY_MAX_CHARS``, so a long imported history never makes one prompt too
large for the model; it asks for the next run after commit. The model's tokens come out of
the owner's daily budget (spend.py); over it, the summary waits for the next day and the
context meanwhile keeps the recent window as it is.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Left
from django.utils import timezone

from numina import metrics

from .. import access, followups, llm, validation
from ..models import Conversation, Message
from . import spend
from .assistant import needs_summary
from .conversations import save_changed


def _batch(*, conversation: Conversation, covers: int) -> tuple[list[dict], int]:
    """The messages after the summary up to ``covers``, and the seq the batch really
    reaches: each message is read only as far as the prompt quotes it (llm.QUOTE_CHARS),
    and the batch stops once NUMINA_SUMMARY_INPUT_MAX_CHARS are taken, so one prompt is
    bounded however long the messages are; the rest waits for the next run."""
    room = settings.NUMINA_SUMMARY_INPUT_MAX_CHARS
    messages: list[dict] = []
    reached = conversation.summary_covers_seq
    rows = (
        Message.objects.filter(
            conversation=conversation, seq__gt=conversation.summary_covers_seq, seq__lte=covers
        )
        .order_by("seq")
        .values_list("seq", "role", Left("content", llm.QUOTE_CHARS + 1))
    )
    for seq, role, content in rows:
        if messages and len(content) > room:
            break
        messages.append({"role": role, "content": content})
        room -= len(content)
        reached = seq
    return messages, reached


def summarize_conversation(*, user, conversation_id: Any) -> Conversation:
    """Fold the messages before the recent window into the summary, when enough wait.

    Raises ``llm.LLMError`` when the model fails (the stored summary is untouched), and
    ``spend.TokenBudgetExceeded`` when the owner's budget for today is spent.
    """
    conversation = access.conversation_for(user=user, conversation_id=conversation_id)
    if not needs_summary(conversation):
        return conversation
    covers = min(
        conversation.message_count - settings.NUMINA_CONTEXT_RECENT_MESSAGES,
        conversation.summary_covers_seq + settings.NUMINA_SUMMARY_BATCH,
    )
    messages, covers = _batch(conversation=conversation, covers=covers)
    spend.ensure_within_budget(user=user)
    completion = llm.get_provider().summarize(
        previous_summary=validation.bounded_summary(conversation.summary), messages=messages
    )
    spend.record_usage(user=user, completion=completion)
    summary = validation.bounded_summary(completion.text).strip()
    if not summary:
        return conversation
    with transaction.atomic():
        conversation = access.conversation_for(
            user=user, conversation_id=conversation_id, lock=True
        )
        if covers > conversation.summary_covers_seq:
            conversation.summary = summary
            conversation.summary_covers_seq = covers
            save_changed(conversation, fields=["summary", "summary_covers_seq"])
            transaction.on_commit(lambda: metrics.summaries.labels(outcome="generated").inc())
            if needs_summary(conversation):
                followups.after_commit_summarize(conversation_id=conversation.id)
        return conversation


def conversations_needing_summary(*, limit: int) -> list:
    """Ids of conversations with enough unsummarized messages outside the recent window,
    but not those of owners over today's token budget: they wait for tomorrow."""
    idle_since = timezone.now() - timedelta(seconds=settings.NUMINA_SWEEP_GRACE)
    backlog = F("summary_covers_seq") + (
        settings.NUMINA_CONTEXT_RECENT_MESSAGES + settings.NUMINA_SUMMARY_THRESHOLD
    )
    return list(
        Conversation.objects.filter(message_count__gte=backlog, last_activity_at__lt=idle_since)
        .exclude(owner__in=spend.owners_over_budget())
        .order_by("last_activity_at")
        .values_list("id", flat=True)[:limit]
    )
