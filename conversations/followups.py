"""Follow-up work a write asks for — a title, a summary — enqueued after its commit.

The one door between the services and the Celery tasks: services call it, the sweeper in
``tasks.py`` calls it, and it names the tasks by their registered names, so it imports no
service and no task module. Tasks call services and services ask for tasks, yet neither
imports the other (tests/test_imports.py holds every module to that).

A broker out of reach never fails the request that wrote the conversation: the failure
is logged and the beat sweeper enqueues the work again later. Sending goes through Celery
as ``Task.delay`` did (django-guid's Celery integration carries the request id into the
message's headers; the task counts its own outcome in ``numina.metrics``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from numina.celery import app as celery_app

logger = logging.getLogger(__name__)

# The names Celery registers conversations/tasks.py's tasks under (module + function).
GENERATE_TITLE = "conversations.tasks.generate_title"
SUMMARIZE_CONVERSATION = "conversations.tasks.summarize_conversation"
RUN_IMPORT = "conversations.tasks.run_import"
EXTRACT_MEMORY = "memory.tasks.extract_memory"


def send(*, task_name: str, conversation_id: Any, countdown: int | None = None) -> None:
    """Enqueue a task for a conversation now (or ``countdown`` seconds from now); a broker
    that is down is logged, not raised."""
    try:
        if celery_app.conf.task_always_eager:
            # send_task ignores eager mode (Celery warns AlwaysEagerIgnored), and the
            # embedded default has no worker: run the registered task here, in process,
            # as its delay() does (conversations/apps.py registers it in every process).
            celery_app.tasks[task_name].delay(str(conversation_id))
        else:
            celery_app.send_task(task_name, args=[str(conversation_id)], countdown=countdown)
    except Exception:
        # The broker is down: the request that wrote the conversation must not fail for
        # it, and the sweeper enqueues the work again later.
        logger.warning("Could not enqueue %s for %s", task_name, conversation_id, exc_info=True)


def after_commit_generate_title(*, conversation_id: Any) -> None:
    """Title the conversation in the background once this transaction has committed."""
    transaction.on_commit(
        functools.partial(send, task_name=GENERATE_TITLE, conversation_id=conversation_id)
    )


def after_commit_summarize(*, conversation_id: Any) -> None:
    """Fold old messages into the summary once this transaction has committed."""
    transaction.on_commit(
        functools.partial(send, task_name=SUMMARIZE_CONVERSATION, conversation_id=conversation_id)
    )


def after_commit_run_import(*, job_id: Any) -> None:
    """Run a large upload's import job (services.bulk_import) once its row is committed.

    A broker that is down leaves the job pending (logged); the user sees it pending and
    can upload again."""
    transaction.on_commit(functools.partial(send, task_name=RUN_IMPORT, conversation_id=job_id))


def memory_extraction_key(conversation_id: Any) -> str:
    """The debounce key: set while an extraction for the conversation is waiting."""
    return f"memory:extract-pending:{conversation_id}"


def _send_extraction(conversation_id: Any) -> None:
    delay = settings.NUMINA_MEMORY_DEBOUNCE
    try:
        # One waiting extraction per conversation: replies arriving while it waits are
        # read by that run (it reads every message after its mark), so a fast chat asks
        # the model once for several turns. The key outlives the countdown a little, and
        # expires even if the task is lost, so the next reply asks again.
        first = cache.add(memory_extraction_key(conversation_id), 1, timeout=delay + 60)
    except Exception:
        logger.warning("Memory debounce unavailable for %s", conversation_id, exc_info=True)
        first = True
    if first:
        send(task_name=EXTRACT_MEMORY, conversation_id=conversation_id, countdown=delay)


def release_memory_extraction(*, conversation_id: Any) -> None:
    """The extraction task has started: a reply from now on asks for the next run."""
    try:
        cache.delete(memory_extraction_key(conversation_id))
    except Exception:
        logger.warning("Memory debounce key of %s left to expire", conversation_id, exc_info=True)


def after_commit_extract_memory(*, conversation_id: Any) -> None:
    """Extract memory from the conversation's new turns once this transaction has
    committed, debounced: at most one waiting run per conversation."""
    transaction.on_commit(functools.partial(_send_extraction, conversation_id))
