"""Every write to memory: the user's own (add, edit, delete, the switch) and extraction's.

The rules, each kept here once:
- Content is 1 to 500 characters after trimming, the kind one of ``Kind``; a user has at
  most ``NUMINA_MEMORY_MAX_ITEMS`` items (a ``ValidationError``: the API's 400).
- What the user writes or edits is theirs (``user_written``): extraction never replaces
  nor deletes it. Extraction's own items are one per (kind, subject): a changed fact
  replaces the old one (``merge_extracted``), and a fact already kept is not stored again,
  so the task may run twice and still leave each fact once.
- Every write locks the user's row, so the count check and the write are one step, and
  raises ``User.memory_revision``: the cached model contexts are keyed by it
  (conversations/context.py), so a deleted item is gone from the very next context.
- Memory off (``memory_enabled`` false): extraction stores nothing.

Extraction (``extract_from_conversation``) asks the model outside any transaction about
the user's messages after the conversation's ``ExtractionMark``, then merges what it
answered and moves the mark, in one transaction. An answer that is not the structured
output asked for is logged and ignored (the mark still moves: asking again would get the
same answer).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from conversations import access, followups, llm
from conversations.models import Role
from conversations.services import spend

from . import extraction
from .models import CONTENT_MAX_LENGTH, SINGULAR_KINDS, ExtractionMark, Kind, MemoryItem

logger = logging.getLogger(__name__)


def _clean_kind(kind: Any) -> str:
    if not isinstance(kind, str) or kind not in Kind.values:
        raise ValidationError({"kind": [f"Must be one of: {', '.join(Kind.values)}."]})
    return kind


def clean_content(content: Any) -> str:
    """The content as stored: trimmed, 1 to 500 characters, no NUL."""
    if not isinstance(content, str):
        raise ValidationError({"content": ["Must be text."]})
    content = content.replace("\x00", "").strip()
    if not content:
        raise ValidationError({"content": ["This field may not be blank."]})
    if len(content) > CONTENT_MAX_LENGTH:
        raise ValidationError(
            {"content": [f"Ensure this field has no more than {CONTENT_MAX_LENGTH} characters."]}
        )
    return content


def subject_for(*, kind: str, subject: str = "", content: str = "") -> str:
    """The key that makes two items "the same thing": the kind itself for a name or a
    role (a person has one of each), else the given subject, or the content's words."""
    if kind in SINGULAR_KINDS:
        return kind
    return extraction.subject_key(subject) or extraction.subject_key(content) or kind


def _locked_owner(user: User) -> User:
    """The user's row, locked until commit: the count check, the write and the revision
    happen as one step for each user."""
    return (
        User.objects.select_for_update()
        .only("id", "memory_revision", "memory_enabled")
        .get(pk=user.pk)
    )


def _raise_revision(*, user: User, locked: User) -> None:
    locked.memory_revision += 1
    User.objects.filter(pk=locked.pk).update(memory_revision=locked.memory_revision)
    # The caller's object too, so its next context in this request is keyed anew.
    user.memory_revision = locked.memory_revision


def _room_for_one_more(*, user: User) -> bool:
    return access.owned_memory_items(user=user).count() < settings.NUMINA_MEMORY_MAX_ITEMS


def _too_many() -> ValidationError:
    return ValidationError(
        {"non_field_errors": [f"At most {settings.NUMINA_MEMORY_MAX_ITEMS} memory items."]}
    )


@transaction.atomic
def create_item(*, user: User, kind: Any, content: Any) -> MemoryItem:
    """An item the user wrote: never replaced nor deleted by extraction."""
    kind = _clean_kind(kind)
    content = clean_content(content)
    locked = _locked_owner(user)
    if not _room_for_one_more(user=user):
        raise _too_many()
    item = MemoryItem.objects.create(
        owner=user,
        kind=kind,
        subject=subject_for(kind=kind, content=content),
        content=content,
        user_written=True,
    )
    _raise_revision(user=user, locked=locked)
    return item


@transaction.atomic
def update_item(*, user: User, item_id: Any, kind: Any = None, content: Any = None) -> MemoryItem:
    """The user corrects an item (kind, content, or both); it is theirs from then on."""
    locked = _locked_owner(user)
    item = access.memory_item_for(user=user, item_id=item_id, lock=True)
    if kind is not None:
        item.kind = _clean_kind(kind)
    if content is not None:
        item.content = clean_content(content)
    if kind is not None or not item.user_written:
        item.subject = subject_for(kind=item.kind, subject=item.subject, content=item.content)
    item.user_written = True
    item.save()
    _raise_revision(user=user, locked=locked)
    return item


@transaction.atomic
def delete_item(*, user: User, item_id: Any) -> None:
    """Gone for good, and from the next context at once (the revision is raised)."""
    locked = _locked_owner(user)
    item = access.memory_item_for(user=user, item_id=item_id, lock=True)
    item.delete()
    _raise_revision(user=user, locked=locked)


@transaction.atomic
def set_memory_enabled(*, user: User, enabled: bool) -> User:
    """The ``Use memory`` switch. Off keeps the items (the user may turn it on again or
    delete them) but none is extracted or sent while it is off."""
    locked = _locked_owner(user)
    User.objects.filter(pk=user.pk).update(memory_enabled=enabled)
    user.memory_enabled = enabled
    _raise_revision(user=user, locked=locked)
    return user


@transaction.atomic
def merge_extracted(
    *, user: User, conversation_id: Any, facts: Sequence[extraction.ExtractedFact]
) -> list[MemoryItem]:
    """Store what extraction found: a new subject is added (while there is room), a
    changed one replaces extraction's old item, a fact already kept or one the user wrote
    about is left alone. Returns the items added or changed."""
    locked = _locked_owner(user)
    if not locked.memory_enabled:  # turned off while the model was asked
        return []
    conversation = access.conversation_for(user=user, conversation_id=conversation_id)
    wanted: dict[tuple[str, str], str] = {}
    for fact in facts:
        # A later statement of the same subject wins ("actually, call me Adda").
        wanted[
            (fact.kind, subject_for(kind=fact.kind, subject=fact.subject, content=fact.content))
        ] = fact.content
    if not wanted:
        return []
    existing: dict[tuple[str, str], list[MemoryItem]] = {}
    for item in access.owned_memory_items(user=user).filter(
        subject__in={subject for _, subject in wanted}
    ):
        existing.setdefault((item.kind, item.subject), []).append(item)
    count = access.owned_memory_items(user=user).count()
    changed: list[MemoryItem] = []
    for (kind, subject), content in wanted.items():
        items = existing.get((kind, subject), [])
        if any(item.user_written for item in items):
            continue  # the user's own word stands
        if items:
            item = items[0]
            if item.content == content:
                continue  # already kept: a second run stores nothing new
            item.content = content
            item.source_conversation = conversation
            item.save(update_fields=["content", "source_conversation", "updated_at"])
            changed.append(item)
            continue
        if count >= settings.NUMINA_MEMORY_MAX_ITEMS:
            logger.info("Memory of %s is full; %s %r not kept", user.pk, kind, subject)
            continue
        changed.append(
            MemoryItem.objects.create(
                owner=user,
                kind=kind,
                subject=subject,
                content=content,
                source_conversation=conversation,
            )
        )
        count += 1
    if changed:
        _raise_revision(user=user, locked=locked)
    return changed


def _known_lines(*, user: User) -> list[str]:
    items = access.owned_memory_items(user=user).order_by("-updated_at")
    return [
        f"{kind}: {content}"
        for kind, content in items.values_list("kind", "content")[
            : settings.NUMINA_MEMORY_CONTEXT_ITEMS
        ]
    ]


@dataclass(frozen=True)
class ExtractionResult:
    changed: list[MemoryItem]
    read_to_seq: int
    # More of the user's messages are waiting than one run reads: another run follows.
    more: bool = False
    invalid: bool = False


def extract_from_conversation(*, user: User, conversation_id: Any) -> ExtractionResult:
    """Ask the model what the user's messages since the last run say about them, and
    merge it. Raises ``llm.LLMError`` (the task decides on retries) and
    ``spend.TokenBudgetExceeded``; nothing is stored when either is raised."""
    conversation = access.conversation_for(user=user, conversation_id=conversation_id)
    mark = ExtractionMark.objects.filter(conversation=conversation).values_list("seq", flat=True)
    after = next(iter(mark), 0)
    if not User.objects.filter(pk=user.pk, memory_enabled=True).exists():
        return ExtractionResult(changed=[], read_to_seq=after)
    limit = settings.NUMINA_MEMORY_EXTRACT_MESSAGES
    rows = list(
        access.owned_messages(user=user)
        .filter(conversation_id=conversation.id, role=Role.USER, seq__gt=after)
        .order_by("seq")
        .values_list("seq", "content")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        return ExtractionResult(changed=[], read_to_seq=after)
    spend.ensure_within_budget(user=user)
    completion = llm.get_provider().remember(
        known=_known_lines(user=user), messages=[content for _, content in rows]
    )
    spend.record_usage(user=user, completion=completion)
    invalid = False
    try:
        facts = extraction.parse_facts(completion.tool_input)
    except extraction.InvalidExtraction as exc:
        logger.warning(
            "Memory extraction for %s ignored an invalid answer: %s", conversation.id, exc
        )
        facts, invalid = [], True
    read_to = rows[-1][0]
    with transaction.atomic():
        changed = merge_extracted(user=user, conversation_id=conversation.id, facts=facts)
        # Only forward: a run that read less (a redelivery racing this one) never moves
        # the mark back over turns already read.
        mark_row, created = ExtractionMark.objects.select_for_update().get_or_create(
            conversation_id=conversation.id, defaults={"seq": read_to}
        )
        if not created and mark_row.seq < read_to:
            mark_row.seq = read_to
            mark_row.save(update_fields=["seq", "updated_at"])
        if more:
            followups.after_commit_extract_memory(conversation_id=conversation.id)
    return ExtractionResult(changed=changed, read_to_seq=read_to, more=more, invalid=invalid)
