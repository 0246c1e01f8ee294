"""The extraction task: thin and idempotent, it calls memory.services.

Enqueued by conversations/followups.py after a stored reply, debounced per conversation.
The same retry and failure rules as titles and summaries (conversations/tasks.py's
``MODEL_TASK_OPTIONS``): transient model errors retried by Celery with jittered
exponential backoff, a finite number of times; a permanent one, or the last try's, is
logged and dropped (the next reply asks again, from the same mark); over the owner's
daily token budget it waits for the next reply. Nothing ever waits for it.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from conversations import followups, llm
from conversations.models import Conversation
from conversations.services import spend
from conversations.tasks import MODEL_TASK_OPTIONS, _celery_retries

from . import services

logger = logging.getLogger(__name__)


@shared_task(**MODEL_TASK_OPTIONS)
def extract_memory(self, conversation_id: str) -> int | None:
    """Merge what the conversation's new turns say about its owner; the number of items
    added or changed (None: nothing was asked)."""
    if self.request.retries == 0:
        followups.release_memory_extraction(conversation_id=conversation_id)
    conversation = (
        Conversation.objects.untrashed().select_related("owner").filter(pk=conversation_id).first()
    )
    if conversation is None:
        return None
    try:
        result = services.extract_from_conversation(
            user=conversation.owner, conversation_id=conversation.id
        )
    except spend.TokenBudgetExceeded:
        logger.info("Memory for %s waits: its owner spent today's token budget", conversation_id)
        return None
    except llm.LLMError as exc:
        if _celery_retries(task=self, error=exc):
            raise
        logger.warning("Memory extraction for %s dropped: %s", conversation_id, exc)
        return None
    except SoftTimeLimitExceeded:
        logger.warning("Memory extraction for %s ran out of time", conversation_id)
        return None
    return len(result.changed)
