"""Celery tasks: thin, idempotent, each calls a service.

Titles and summaries are made in the background so no one waits for them. Every task
may run twice (acks_late + reject_on_worker_lost redeliver a task whose worker died) and
the services make that harmless. Retries are for transient model errors only
(connection, timeout, 429, 5xx, 529), finite, with exponential backoff and full jitter,
and Celery's (autoretry_for) alone: the SDK makes one attempt per try, so a task makes
NUMINA_TASK_MAX_RETRIES + 1 model requests at most. A request the model refuses (400 …)
is not retried. Work for an owner over today's token budget is neither retried nor given
up on: the task ends, and the sweeper (which skips owners over budget) enqueues it again
once the UTC day has rolled over. The limits chain is
``ANTHROPIC_TIMEOUT (one attempt) < soft time limit < hard time limit < visibility timeout``
(see settings; a test asserts it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from numina import metrics

from . import cache, followups, llm
from .models import Conversation
from .services import bulk_import, files, spend, summaries, titles, trash

logger = logging.getLogger(__name__)

# Celery owns the retries of model calls (the SDK makes one attempt in a task: see
# llm.BACKGROUND_SDK_RETRIES). A transient model error that leaves the task is retried by
# Celery's autoretry: exponential backoff from NUMINA_TASK_RETRY_BACKOFF seconds, capped at
# NUMINA_TASK_RETRY_BACKOFF_MAX, fully jittered, NUMINA_TASK_MAX_RETRIES times at most.
MODEL_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (llm.TransientLLMError,),
    "max_retries": settings.NUMINA_TASK_MAX_RETRIES,
    "retry_backoff": settings.NUMINA_TASK_RETRY_BACKOFF,
    "retry_backoff_max": settings.NUMINA_TASK_RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    # Used only when NUMINA_TASK_RETRY_BACKOFF is 0 (Celery then computes no backoff):
    # retry at once rather than after Celery's default three minutes.
    "default_retry_delay": 0,
    "soft_time_limit": settings.NUMINA_TASK_SOFT_TIME_LIMIT,
    "time_limit": settings.NUMINA_TASK_TIME_LIMIT,
}


def _conversation(conversation_id: str) -> Conversation | None:
    # Deleted (or trashed) since the task was enqueued: nothing to do.
    return (
        Conversation.objects.untrashed().select_related("owner").filter(pk=conversation_id).first()
    )


def _celery_retries(*, task: Task, error: llm.LLMError) -> bool:
    """Whether Celery's autoretry takes this error: transient, and tries left.

    The task re-raises such an error for autoretry_for to schedule the next try; any
    other error (permanent, or the last try's) the task handles itself, with its fallback.
    """
    # max_retries None is Celery's "no limit".
    return error.transient and (task.max_retries is None or task.request.retries < task.max_retries)


def _deferred(work: str, conversation_id: str) -> None:
    logger.info("%s for %s waits: its owner spent today's token budget", work, conversation_id)


@shared_task(**MODEL_TASK_OPTIONS)
def generate_title(self, conversation_id: str) -> str | None:
    """Title a conversation; after the last failed try, title it from its first message."""
    conversation = _conversation(conversation_id)
    if conversation is None:
        return None
    owner = conversation.owner
    try:
        conversation = titles.generate_title(user=owner, conversation_id=conversation.id)
    except spend.TokenBudgetExceeded:
        # Not the fallback: the model's title comes tomorrow, through the sweeper.
        _deferred("Title", conversation_id)
        metrics.titles.labels(outcome="deferred").inc()
        return None
    except llm.LLMError as exc:
        if _celery_retries(task=self, error=exc):
            raise
        logger.warning("Title for %s from its first message: %s", conversation_id, exc)
        metrics.titles.labels(outcome="failed").inc()
        conversation = titles.fallback_title(user=owner, conversation_id=conversation.id)
    except SoftTimeLimitExceeded:
        metrics.titles.labels(outcome="failed").inc()
        conversation = titles.fallback_title(user=owner, conversation_id=conversation.id)
    return conversation.title


@shared_task(**MODEL_TASK_OPTIONS)
def summarize_conversation(self, conversation_id: str) -> int | None:
    """Fold old messages into the summary; the sweeper tries again if every try fails."""
    conversation = _conversation(conversation_id)
    if conversation is None:
        return None
    try:
        conversation = summaries.summarize_conversation(
            user=conversation.owner, conversation_id=conversation.id
        )
    except spend.TokenBudgetExceeded:
        _deferred("Summary", conversation_id)
        metrics.summaries.labels(outcome="deferred").inc()
        return None
    except llm.LLMError as exc:
        if _celery_retries(task=self, error=exc):
            raise
        logger.warning("Summary for %s failed, left for the sweeper: %s", conversation_id, exc)
        metrics.summaries.labels(outcome="failed").inc()
        return None
    return conversation.summary_covers_seq


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_conversations() -> dict[str, int]:
    """Re-enqueue what is still missing: the broker may have been down at commit."""
    missing_titles = titles.conversations_missing_title(limit=settings.NUMINA_SWEEP_BATCH)
    for conversation_id in missing_titles:
        followups.send(task_name=followups.GENERATE_TITLE, conversation_id=conversation_id)
    needing_summary = summaries.conversations_needing_summary(limit=settings.NUMINA_SWEEP_BATCH)
    for conversation_id in needing_summary:
        followups.send(task_name=followups.SUMMARIZE_CONVERSATION, conversation_id=conversation_id)
    return {"titles": len(missing_titles), "summaries": len(needing_summary)}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def replay_cache_invalidations() -> bool:
    """Raise the cache versions writers could not raise while Redis was away (cache.py)."""
    return cache.replay_pending()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_import(job_id: str) -> None:
    """A large upload's import (services.bulk_import.run_job). Redelivered after a worker
    died, it goes on where it stopped: what was imported is skipped by its key."""
    bulk_import.run_job(job_id=job_id)


def _in_batches(delete_batch: Callable[[int], int], *, batch: int) -> int:
    """Run ``delete_batch(limit)`` (one transaction each) until it deletes fewer than
    ``batch`` or NUMINA_TRASH_PURGE_MAX_BATCHES have run (the next run goes on): how
    many were deleted in all."""
    deleted = 0
    for _ in range(settings.NUMINA_TRASH_PURGE_MAX_BATCHES):
        done = delete_batch(batch)
        deleted += done
        if done < batch:
            break
    return deleted


@shared_task(acks_late=True, reject_on_worker_lost=True)
def empty_trash() -> int:
    """Delete for good what has been in the trash longer than NUMINA_TRASH_DAYS: bounded
    batches, each its own transaction, a bounded number a run (the next run goes on).
    Idempotent: a second run, or one redelivered, finds only what is still due."""
    trashed_before = trash.purge_before()
    emptied = _in_batches(
        lambda limit: trash.empty_trash(trashed_before=trashed_before, limit=limit),
        batch=settings.NUMINA_TRASH_PURGE_BATCH,
    )
    if emptied:
        logger.info("Emptied %d conversations from the trash", emptied)
    return emptied


@shared_task(acks_late=True, reject_on_worker_lost=True)
def purge_orphan_files() -> int:
    """Delete the uploaded files no message carries, NUMINA_FILE_ORPHAN_HOURS after their
    upload (one that was never sent, or whose messages are gone): bounded batches, each
    its own transaction, as the trash is emptied. Idempotent."""
    uploaded_before = timezone.now() - timedelta(hours=settings.NUMINA_FILE_ORPHAN_HOURS)
    purged = _in_batches(
        lambda limit: files.purge_orphan_files(uploaded_before=uploaded_before, limit=limit),
        batch=settings.NUMINA_FILE_PURGE_BATCH,
    )
    if purged:
        logger.info("Deleted %d files no message carries", purged)
    return purged
