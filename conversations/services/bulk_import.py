"""POST /api/v1/import/, the /account/ form and ``manage.py import_conversations``: one
upload, many conversations, each stored on its own (sources/ reads the formats).

Each conversation is keyed by (source, its id there), unique per owner: one already
imported is **skipped**, whatever changed in the source since. Numina's copy may have
been continued, renamed or branched here, and merging two histories is not guessed;
``updated`` is in the answer for the contract, and stays 0 (README, "Import"). Each
conversation is its own savepoint: a bad one is an ``errors`` entry and stores nothing,
the good ones are kept. Storing goes through ``transfer.import_conversation``, the one
import of a message tree (and so through ``clean_new_messages`` and the limits).

A large upload (past NUMINA_IMPORT_ASYNC_BYTES or NUMINA_IMPORT_ASYNC_CONVERSATIONS)
becomes an ``ImportJob`` run by a Celery task (followups.py), which records its progress
on the job row as it goes; the request answers 202 at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import access, followups, sources
from ..models import ImportJob
from .conversations import NewMessage
from .transfer import ImportedTree, import_conversation, read_document

logger = logging.getLogger(__name__)

# Errors kept on a job (and in an answer): the first ones say what is wrong with a file;
# ten thousand of them say nothing more and would bloat the row.
MAX_ERRORS = 1000


@dataclass
class ImportOutcome:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    processed: int = 0

    def as_answer(self) -> dict:
        return {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": self.errors,
        }

    def add_error(self, *, item: str, detail: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"item": item, "detail": detail})


def _already_imported(*, user, key: tuple[str, str]) -> bool:
    """Imported before, and kept or in the trash: one the user put in the trash is not
    brought back by importing the same file again (Restore does that)."""
    kept_or_trashed = access.owned_conversations(user=user) | access.trashed_conversations(
        user=user
    )
    return kept_or_trashed.filter(import_source=key[0], import_id=key[1]).exists()  # one query


def _store(*, user, item: sources.SourceConversation, key: tuple[str, str]) -> None:
    if item.document is not None:
        read = read_document(item.document)
        import_conversation(
            user=user,
            **read.fields,
            messages=read.messages,
            tree=read.tree,
            import_key=key,
            activity_from_messages=True,
        )
        return
    if not item.messages:
        raise ValidationError({"messages": ["No message to import."]})
    messages = [
        NewMessage(role=m.role, content=m.content, metadata=m.metadata, created_at=m.created_at)
        for m in item.messages
    ]
    current = item.current if item.current is not None else len(messages) - 1
    import_conversation(
        user=user,
        title=item.title,
        # The source's title is the user's own: a generated one never replaces it.
        title_set_by_user=bool(item.title),
        created_at=item.created_at,
        messages=messages,
        tree=ImportedTree(parents=[m.parent for m in item.messages], current=current),
        import_key=key,
        activity_from_messages=True,
    )


def import_item(*, user, item: sources.SourceConversation, outcome: ImportOutcome) -> None:
    """Store one conversation of an upload, counted in ``outcome``."""
    outcome.processed += 1
    if item.problem is not None:
        outcome.add_error(item=item.label, detail=item.problem)
        return
    key = (item.source, item.source_id[:255])
    if _already_imported(user=user, key=key):
        outcome.skipped += 1
        return
    item = sources.checked(item)
    if item.problem is not None:
        outcome.add_error(item=item.label, detail=item.problem)
        return
    try:
        with transaction.atomic():
            _store(user=user, item=item, key=key)
    except ValidationError as exc:
        outcome.add_error(item=item.label, detail=sources.describe(exc))
    except IntegrityError:
        # The key is taken after all: the same file imported at the same time, or the
        # conversation is in the user's trash (invisible to the check above).
        outcome.skipped += 1
    else:
        outcome.created += 1


def import_upload(
    *,
    user,
    upload: sources.Upload,
    progress: Callable[[ImportOutcome], None] | None = None,
) -> ImportOutcome:
    outcome = ImportOutcome()
    for item in upload.items():
        import_item(user=user, item=item, outcome=outcome)
        if progress is not None:
            progress(outcome)
    return outcome


def check_upload_size(*, size: int) -> None:
    """``BadUpload`` for a file past NUMINA_IMPORT_MAX_BYTES, before it is read."""
    sources.check_size(size)


def _goes_to_a_job(*, size: int, count: int | None) -> bool:
    return size > settings.NUMINA_IMPORT_ASYNC_BYTES or (
        count is not None and count > settings.NUMINA_IMPORT_ASYNC_CONVERSATIONS
    )


def import_file(*, user, data: bytes, filename: str = "") -> ImportOutcome | ImportJob:
    """An upload imported now (small: the outcome) or by a job (large: the job, queued
    after commit). ``sources.BadUpload`` for a file that cannot be imported at all.

    A large file gets only the cheap checks here (size, a ZIP's directory); reading it
    whole is the job's work, and a format error then fails the job with that error."""
    if _goes_to_a_job(size=len(data), count=None):
        sources.check_container(data)
        return _start_job(user=user, data=data, filename=filename)
    upload = sources.read_upload(data)
    if _goes_to_a_job(size=len(data), count=upload.count):
        return _start_job(user=user, data=data, filename=filename, total=upload.count)
    return import_upload(user=user, upload=upload)


def import_file_for_display(*, user, data: bytes, filename: str = "") -> ImportJob:
    """``import_file`` for the browser: a small file's outcome is kept as a finished job
    too, so the page shows either the same way (/account/?import=<job id>)."""
    result = import_file(user=user, data=data, filename=filename)
    if isinstance(result, ImportJob):
        return result
    return ImportJob.objects.create(
        owner=user,
        status=ImportJob.Status.DONE,
        filename=filename[:255],
        size=len(data),
        total=result.processed,
        processed=result.processed,
        created=result.created,
        updated=result.updated,
        skipped=result.skipped,
        errors=result.errors,
        finished_at=timezone.now(),
    )


@transaction.atomic
def _start_job(*, user, data: bytes, filename: str, total: int = 0) -> ImportJob:
    job = ImportJob.objects.create(
        owner=user, data=data, size=len(data), filename=filename[:255], total=total
    )
    followups.after_commit_run_import(job_id=job.id)
    return job


def _record(job_id, outcome: ImportOutcome, **fields) -> None:
    ImportJob.objects.filter(pk=job_id).update(
        processed=outcome.processed,
        created=outcome.created,
        updated=outcome.updated,
        skipped=outcome.skipped,
        errors=outcome.errors,
        **fields,
    )


def run_job(*, job_id) -> None:
    """The job's import (the Celery task's body). Run twice (a redelivered task), it
    finds each conversation already imported and skips it; a finished job is left."""
    job = (
        ImportJob.objects.select_related("owner")
        .filter(pk=job_id, status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
        .first()
    )
    if job is None or job.data is None:
        return
    outcome = ImportOutcome()
    try:
        upload = sources.read_upload(bytes(job.data))
    except sources.BadUpload as exc:
        outcome.add_error(item="file", detail=exc.detail)
        _record(
            job.pk, outcome, status=ImportJob.Status.FAILED, finished_at=timezone.now(), data=None
        )
        return
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, total=upload.count)
    try:
        import_upload(user=job.owner, upload=upload, progress=lambda done: _record(job.pk, done))
    except Exception:
        # Whatever broke, the job must not stay "running" for ever in the user's eyes.
        logger.exception("Import job %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, finished_at=timezone.now(), data=None
        )
        raise
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now(), data=None
    )
