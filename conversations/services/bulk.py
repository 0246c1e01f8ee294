"""Bulk actions on many of a user's conversations at once (API.md, "Sharing and bulk
actions"; the sidebar's ``Select``).

Each conversation goes through the very service its single action uses (archive is
``update_conversation``, delete is ``trash_conversation``, restore is
``restore_conversation`` …), in its own transaction, one after the other. So each is one
change of its own — its own change number, cache invalidation and live event — exactly
as if the user had clicked it alone, and one that fails (not the user's, a tag past the
bound) is rolled back alone while the others stand. Another user's id, a missing one and
one in the trash (for anything but restore) are ``not_found`` in their row and nothing of
them is read or changed.

Repeating a request answers the same: archiving an archived chat, deleting one that is
already in the user's trash, or restoring one that is not in it (it is already back)
succeed without a change. Ids given twice are acted on once, in the order first given.

Cost: a fixed number of queries per id (the single action's own), so a bulk request is
linear in its ids and bounded by NUMINA_BULK_MAX_IDS.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import ObjectDoesNotExist, ValidationError

from .. import access, validation
from . import conversations as single
from . import trash

Outcome = Literal["done", "not_found", "invalid"]

ARCHIVE = "archive"
UNARCHIVE = "unarchive"
PIN = "pin"
UNPIN = "unpin"
DELETE = "delete"
RESTORE = "restore"
ADD_TAGS = "add_tags"
REMOVE_TAGS = "remove_tags"
TAG_ACTIONS = (ADD_TAGS, REMOVE_TAGS)


@dataclass(frozen=True)
class BulkResult:
    id: uuid.UUID
    outcome: Outcome
    # For an ``invalid`` row: the single action's field map (a tag past the bound).
    errors: dict[str, list[str]] | None = None


def _delete(*, user, conversation_id: uuid.UUID, tags: Sequence[str]) -> None:
    try:
        trash.trash_conversation(user=user, conversation_id=conversation_id)
    except ObjectDoesNotExist:
        # Already in the user's trash: where it was asked to go (never deleted for good:
        # a bulk delete only ever moves to the trash).
        if not access.trashed_conversations(user=user).filter(id=conversation_id).exists():
            raise


def _restore(*, user, conversation_id: uuid.UUID, tags: Sequence[str]) -> None:
    try:
        trash.restore_conversation(user=user, conversation_id=conversation_id)
    except ObjectDoesNotExist:
        # Not in the trash but the user's: it is back already.
        access.owned_conversation_id(user=user, conversation_id=conversation_id)


def _update(**change: Any) -> Callable[..., None]:
    def apply(*, user, conversation_id: uuid.UUID, tags: Sequence[str]) -> None:
        single.update_conversation(user=user, conversation_id=conversation_id, **change)

    return apply


def _tags(edit: Callable[..., Any]) -> Callable[..., None]:
    def apply(*, user, conversation_id: uuid.UUID, tags: Sequence[str]) -> None:
        edit(user=user, conversation_id=conversation_id, tags=tags)

    return apply


ACTIONS: dict[str, Callable[..., None]] = {
    ARCHIVE: _update(is_archived=True),
    UNARCHIVE: _update(is_archived=False),
    PIN: _update(is_pinned=True),
    UNPIN: _update(is_pinned=False),
    DELETE: _delete,
    RESTORE: _restore,
    ADD_TAGS: _tags(single.add_tags),
    REMOVE_TAGS: _tags(single.remove_tags),
}


def apply_to_each(
    *, user, ids: Sequence[uuid.UUID], action: str, tags: Sequence[str] | None = None
) -> list[BulkResult]:
    """Apply ``action`` to each of the user's conversations named by ``ids`` (already
    counted and parsed by the caller), one result per distinct id, in order.

    ``ValidationError`` (nothing applied) for an unknown action, a tag action without
    tags or with a tag that is not one, and tags given to any other action.
    """
    if action not in ACTIONS:
        raise ValidationError({"action": [f"Must be one of: {', '.join(ACTIONS)}."]})
    if action in TAG_ACTIONS:
        if not tags:
            raise ValidationError({"tags": [f"This field is required for {action}."]})
        errors = validation.FieldErrors()
        tags = errors.check("tags", validation.clean_tags, tags)
        errors.raise_if_any()
    elif tags is not None:
        raise ValidationError({"tags": [f"Only {' and '.join(TAG_ACTIONS)} take tags."]})
    apply = ACTIONS[action]
    results = []
    for conversation_id in dict.fromkeys(ids):
        try:
            apply(user=user, conversation_id=conversation_id, tags=tags or ())
        except ObjectDoesNotExist:
            results.append(BulkResult(id=conversation_id, outcome="not_found"))
        except ValidationError as exc:
            results.append(
                BulkResult(id=conversation_id, outcome="invalid", errors=exc.message_dict)
            )
        else:
            results.append(BulkResult(id=conversation_id, outcome="done"))
    return results
