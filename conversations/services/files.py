"""Every write to uploaded files: storing an upload, deleting one, linking files to the
messages that carry them, and removing them with their conversations or account.

The bytes live in Django's ``files`` storage (settings.STORAGES) under an opaque name;
the row (``UserFile``) says whose they are and what they are. Storage is no part of the
database transaction, so the order is chosen for it: an upload is written to storage
first and its row inserted after (a failed insert deletes the bytes again); a deletion
deletes rows in its transaction and the bytes only once that has committed
(``_delete_stored_after_commit``), so a rollback never leaves a row without its bytes.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import transaction
from django.db.models import Exists, OuterRef, Sum

from .. import access, uploads
from ..models import Message, MessageFile, UserFile

logger = logging.getLogger(__name__)

ATTACHMENT_PREFIX = "file:"
FILE_IN_USE = "file_in_use"


class FileInUse(Exception):
    """The file is carried by a message: it is kept while that message is (API.md's
    DELETE answers 409 ``file_in_use``; deleting the conversation frees it)."""


def storage():
    return storages["files"]


def used_bytes(*, user) -> int:
    return access.owned_files(user=user).aggregate(total=Sum("size"))["total"] or 0


def upload_limits(user) -> tuple[int, str]:
    """The bytes the user's next upload may have, and the refusal's code past them."""
    left = max(settings.NUMINA_FILE_QUOTA_BYTES - used_bytes(user=user), 0)
    if left < settings.NUMINA_FILE_MAX_BYTES:
        return left, uploads.OVER_QUOTA
    return settings.NUMINA_FILE_MAX_BYTES, uploads.TOO_LARGE


def refusal_detail(refused: uploads.UploadRefused) -> str:
    if refused.code == uploads.OVER_QUOTA:
        return (
            f"Your files are at your quota of {settings.NUMINA_FILE_QUOTA_BYTES} bytes: "
            "delete some to upload more."
        )
    return f"The file is larger than {settings.NUMINA_FILE_MAX_BYTES} bytes."


def storage_name_for(*, file_id: uuid.UUID, sha256: str) -> str:
    # Opaque: nothing of the user's name reaches a path or an object key.
    return f"files/{sha256[:2]}/{file_id.hex}"


def store_upload(*, user, upload: Any, name: str) -> UserFile:
    """Store a streamed upload (``uploads.LimitedUploadHandler``'s file: on disk, with its
    ``sha256``) as the user's file. ``ValidationError`` (nothing stored) for an empty
    file, a bad name, a type not allowed or not what it claims, or one over the quota."""
    clean_name = uploads.clean_name(name)
    if not upload.size:
        raise ValidationError({"file": ["The file is empty."]})
    try:
        found = uploads.inspect(upload, name=clean_name)
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from None
    file_id = uuid.uuid4()
    stored_name = storage().save(storage_name_for(file_id=file_id, sha256=upload.sha256), upload)
    try:
        with transaction.atomic():
            # The user's row lock: two uploads at once cannot both fit the last of a quota.
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            _check_quota(user=user, adding=upload.size)
            return UserFile.objects.create(
                id=file_id,
                owner=user,
                storage_name=stored_name,
                name=clean_name,
                content_type=found.content_type,
                size=upload.size,
                sha256=upload.sha256,
                width=found.width,
                height=found.height,
                pages=found.pages,
            )
    except BaseException:
        storage().delete(stored_name)
        raise


def _check_quota(*, user, adding: int) -> None:
    if used_bytes(user=user) + adding > settings.NUMINA_FILE_QUOTA_BYTES:
        refused = uploads.UploadRefused(code=uploads.OVER_QUOTA, limit=0)
        raise ValidationError({"file": [refusal_detail(refused)]})


def _delete_stored_after_commit(names: Iterable[str]) -> None:
    names = list(names)
    if not names:
        return

    def delete() -> None:
        for name in names:
            try:
                storage().delete(name)
            except Exception:
                # The row is gone already; a blob left behind is only disk, never data
                # anyone can reach. Logged for the operator.
                logger.warning("Could not delete stored file %s", name, exc_info=True)

    transaction.on_commit(delete)


@transaction.atomic
def delete_file(*, user, file_id: Any) -> None:
    """Delete the user's file (``UserFile.DoesNotExist`` for anything else); ``FileInUse``
    while a message carries it."""
    user_file = access.file_for(user=user, file_id=file_id, lock=True)
    if MessageFile.objects.filter(file=user_file).exists():
        raise FileInUse
    user_file.delete()
    _delete_stored_after_commit([user_file.storage_name])


def _delete_unreferenced(file_ids: Iterable[uuid.UUID]) -> int:
    """Delete those of these files no message carries any more (rows now, bytes after
    commit); how many."""
    linked = MessageFile.objects.filter(file=OuterRef("pk"))
    doomed = list(
        UserFile.objects.filter(id__in=list(file_ids))
        .exclude(Exists(linked))
        .values_list("id", "storage_name")
    )
    if doomed:
        UserFile.objects.filter(id__in=[file_id for file_id, _ in doomed]).delete()
        _delete_stored_after_commit(name for _, name in doomed)
    return len(doomed)


def unlink_conversations(*, conversation_ids: Sequence[uuid.UUID]) -> None:
    """Before conversations are deleted for good (in the caller's transaction): their
    messages' links go, and the files no other message carries go with them. Three
    statements whatever the number of messages."""
    links = MessageFile.objects.filter(
        message_id__in=Message.objects.filter(conversation_id__in=conversation_ids).values("pk")
    )
    file_ids = set(links.values_list("file_id", flat=True))
    if file_ids:
        links.delete()
        _delete_unreferenced(file_ids)


def unlink_owner(*, user) -> None:
    """Before the account is deleted (in the caller's transaction): every link to its
    files goes, so the cascade can take the files' rows; their bytes go after commit."""
    MessageFile.objects.filter(file__owner=user).delete()
    # Another user's message can never carry this user's file (attach checks the
    # owner), so the links above are all of them.
    MessageFile.objects.filter(message__owner=user).delete()
    names = list(UserFile.objects.filter(owner=user).values_list("storage_name", flat=True))
    UserFile.objects.filter(owner=user).delete()
    _delete_stored_after_commit(names)


@transaction.atomic
def purge_orphan_files(*, uploaded_before: datetime, limit: int) -> int:
    """Delete at most ``limit`` files uploaded before ``uploaded_before`` that no message
    carries, of any user (the beat task acts for no user, as the sweepers do); how many.
    ``skip_locked``: a file being attached right now (its row locked by the message's
    transaction) is left for the next run."""
    linked = MessageFile.objects.filter(file=OuterRef("pk"))
    due = list(
        UserFile.objects.filter(created_at__lt=uploaded_before)
        .exclude(Exists(linked))
        .order_by("created_at")
        .select_for_update(skip_locked=True)
        .values_list("id", flat=True)[:limit]
    )
    return _delete_unreferenced(due) if due else 0


# --- attaching files to messages ------------------------------------------------------


def file_ids_of(attachments: Sequence[str] | None) -> list[str]:
    """The ``file:<id>`` entries of a message's attachments, in order, each once."""
    seen: dict[str, None] = {}
    for item in attachments or ():
        if isinstance(item, str) and item.startswith(ATTACHMENT_PREFIX):
            seen.setdefault(item[len(ATTACHMENT_PREFIX) :], None)
    return list(seen)


def _base64_size(size: int) -> int:
    return 4 * math.ceil(size / 3)


def check_model_limits(user_file: UserFile) -> None:
    """``ValidationError`` on ``attachments`` for a file the model cannot be sent
    (Anthropic's documented limits, in settings), before anything is stored or asked."""
    problem = None
    if user_file.content_type in uploads.IMAGE_TYPES:
        if _base64_size(user_file.size) > settings.NUMINA_MODEL_IMAGE_MAX_BASE64_BYTES:
            problem = (
                f"the model takes images of at most "
                f"{settings.NUMINA_MODEL_IMAGE_MAX_BASE64_BYTES} bytes as base64"
            )
        elif (
            max(user_file.width or 0, user_file.height or 0) > settings.NUMINA_MODEL_IMAGE_MAX_SIDE
        ):
            problem = (
                f"the model takes images of at most {settings.NUMINA_MODEL_IMAGE_MAX_SIDE} "
                "pixels a side"
            )
    elif user_file.content_type == uploads.PDF:
        if _base64_size(user_file.size) > settings.NUMINA_MODEL_PDF_MAX_BYTES:
            problem = f"the model takes PDFs of at most {settings.NUMINA_MODEL_PDF_MAX_BYTES} bytes"
        elif (user_file.pages or 0) > settings.NUMINA_MODEL_PDF_MAX_PAGES:
            problem = f"the model takes PDFs of at most {settings.NUMINA_MODEL_PDF_MAX_PAGES} pages"
    elif user_file.size > settings.NUMINA_MODEL_TEXT_MAX_CHARS * 4:
        limit = settings.NUMINA_MODEL_TEXT_MAX_CHARS
        problem = f"the model takes text files of at most {limit} characters"
    if problem:
        raise ValidationError({"attachments": [f"{user_file.name}: {problem}."]})


def files_to_attach(
    *, user, attachments: Sequence[str] | None, lock: bool = True
) -> list[UserFile]:
    """The user's files that ``attachments`` names, in order, row-locked until the
    caller's transaction commits (so the orphan sweeper cannot take one meanwhile;
    ``lock=False`` for a check ahead of the write, outside any transaction).
    ``UserFile.DoesNotExist`` (a 404) for an id that is not the user's file; a
    ``ValidationError`` for one the model could not be sent."""
    ids = [access.as_uuid(file_id) for file_id in file_ids_of(attachments)]
    if not ids:
        return []
    if None in ids:
        raise UserFile.DoesNotExist
    found = {
        user_file.id: user_file
        for user_file in access.files_for(user=user, file_ids=ids, lock=lock)
    }
    if any(file_id not in found for file_id in ids):
        raise UserFile.DoesNotExist
    files = [found[file_id] for file_id in ids if file_id is not None]
    for user_file in files:
        check_model_limits(user_file)
    return files


def link(*, message: Message, files: Sequence[UserFile]) -> None:
    """Record that ``message`` carries ``files`` (in the caller's transaction)."""
    if files:
        MessageFile.objects.bulk_create(
            MessageFile(message=message, file=user_file, position=position)
            for position, user_file in enumerate(files)
        )
