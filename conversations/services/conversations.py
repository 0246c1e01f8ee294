"""Every write to conversations and messages, one transaction each.

The API, the browser UI, the Celery tasks and the migration command all call these, so
each rule (ownership, seq under a row lock, counts, limits, the change stream) lives
once. Every function takes the acting user and never touches another user's rows: a
conversation that is not the user's raises ``Conversation.DoesNotExist``, exactly as one
that does not exist.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from numina import bulk_insert, metrics

from .. import access, cache, live, validation
from ..models import (
    ChangeCounter,
    Conversation,
    DeletedConversation,
    Message,
    MessageBatch,
    Tag,
)
from ..selectors import branches
from . import branch_summaries, files


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


class _NoParent:
    def __repr__(self) -> str:
        return "NO_PARENT"


# ``parent_id=NO_PARENT``: the new message is a first message (a new version of the
# conversation's first message), where ``None`` means "after the current message".
# Editing message M is sending its new text after M's parent, and a first message has
# none: without this there would be no way to edit it.
NO_PARENT: Any = _NoParent()


@dataclass(frozen=True)
class NewMessage:
    """One message to store; ``created_at`` is kept when the source knows it."""

    role: str
    content: str
    attachments: list[str] | None = field(default_factory=list)
    metadata: dict | None = field(default_factory=dict)
    client_id: uuid.UUID | str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class AddedMessage:
    message: Message
    created: bool  # False when client_id matched a message already stored


def _lock_conversation(*, user, conversation_id: Any) -> Conversation:
    return access.conversation_for(user=user, conversation_id=conversation_id, lock=True)


def next_change_seq(
    *, owner_id: uuid.UUID, conversation_id: uuid.UUID, stored_seqs: tuple[int, int] | None = None
) -> int:
    """Take the owner's next change number for a change to one conversation.

    The counter row stays locked until commit, so a user's changes become visible in
    number order (sync relies on it). Called last in every write so the lock is held
    briefly and always taken after the conversation's own lock (one lock order, no
    deadlock). After commit, the cached entries of that conversation and of the owner's
    list go stale (cache.changed) and the owner's open event streams hear of it
    (live.committed). Written as one upsert because the ORM has no
    "increment or create, and return the value" in a single statement.

    ``stored_seqs`` (first, last): the write stored those messages of the conversation;
    they are recorded at this number (``MessageBatch``, what sync with messages reads),
    on PostgreSQL in the same statement as the upsert.
    """
    counter = connection.ops.quote_name(ChangeCounter._meta.db_table)
    owner = owner_id.hex if connection.vendor == "sqlite" else owner_id
    # The model's quoted table name; the owner is a parameter.
    upsert = (
        f"INSERT INTO {counter} (owner_id, value) VALUES (%s, 1) "  # noqa: S608
        f"ON CONFLICT (owner_id) DO UPDATE SET value = {counter}.value + 1 RETURNING value"
    )
    recorded = False
    with connection.cursor() as cursor:
        if stored_seqs is not None and connection.vendor == "postgresql":
            batches = connection.ops.quote_name(MessageBatch._meta.db_table)
            cursor.execute(
                f"WITH taken AS ({upsert}) "  # noqa: S608 (quoted table names, parameters)
                f"INSERT INTO {batches} (owner_id, conversation_id, change_seq, first_seq, "
                f"last_seq) SELECT %s, %s, value, %s, %s FROM taken RETURNING change_seq",
                [owner, owner, conversation_id, *stored_seqs],
            )
            recorded = True
        else:
            cursor.execute(upsert, [owner])
        change_seq = cursor.fetchone()[0]
    if stored_seqs is not None and not recorded:
        first_seq, last_seq = stored_seqs
        MessageBatch.objects.create(
            owner_id=owner_id,
            conversation_id=conversation_id,
            change_seq=change_seq,
            first_seq=first_seq,
            last_seq=last_seq,
        )
    cache.on_commit_changed(
        owner_id=owner_id, conversation_id=conversation_id, change_seq=change_seq
    )
    # Registered after the cache's hook and so run after it: a client that reads the
    # conversation when its event arrives never gets the entry from before the change.
    transaction.on_commit(
        functools.partial(live.committed, owner_id=owner_id, change_seq=change_seq)
    )
    return change_seq


def save_changed(
    conversation: Conversation,
    *,
    fields: Sequence[str],
    stored_seqs: tuple[int, int] | None = None,
) -> None:
    """Save a changed conversation row: the one path every write to a conversation takes.

    It stamps ``updated_at`` and the owner's next change number (sync), and it is where
    the after-commit work of a change (cache invalidation) hangs, so service modules
    must not save a conversation any other way. A write that stored messages passes
    their seqs (first, last) as ``stored_seqs``, so sync carries them at this change.
    """
    conversation.updated_at = timezone.now()
    conversation.change_seq = next_change_seq(
        owner_id=conversation.owner_id, conversation_id=conversation.id, stored_seqs=stored_seqs
    )
    conversation.save(update_fields=[*fields, "updated_at", "change_seq"])


def next_change_seqs(
    *, owner_id: Any, changes: Sequence[tuple[uuid.UUID, tuple[int, int] | None]]
) -> list[int]:
    """``next_change_seq`` for many conversations of one owner at once: one number each,
    in the order given, taken by one upsert (the counter moves by ``len(changes)``), and
    the stored messages' batches recorded in one INSERT.

    For writers that change many conversations in one transaction (the legacy
    migration): the counter's lock is taken once and held to commit, as it is for one
    change. Every conversation still gets its own number, so sync and the cache see
    each one; the owner's streams hear only of the last (they read everything since).
    """
    if not changes:
        return []
    counter = connection.ops.quote_name(ChangeCounter._meta.db_table)
    owner = owner_id.hex if connection.vendor == "sqlite" else owner_id
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {counter} (owner_id, value) VALUES (%s, %s) "  # noqa: S608
            f"ON CONFLICT (owner_id) DO UPDATE SET value = {counter}.value + %s RETURNING value",
            [owner, len(changes), len(changes)],
        )
        last = cursor.fetchone()[0]
    seqs = list(range(last - len(changes) + 1, last + 1))
    bulk_insert.insert(
        [
            MessageBatch(
                owner_id=owner_id,
                conversation_id=conversation_id,
                change_seq=change_seq,
                first_seq=stored[0],
                last_seq=stored[1],
            )
            for (conversation_id, stored), change_seq in zip(changes, seqs, strict=True)
            if stored is not None
        ]
    )
    cache.on_commit_changed_many(
        owner_id=owner_id,
        changes=[
            (conversation_id, change_seq)
            for (conversation_id, _), change_seq in zip(changes, seqs, strict=True)
        ],
    )
    # After the cache's hooks, as in next_change_seq.
    transaction.on_commit(functools.partial(live.committed, owner_id=owner_id, change_seq=last))
    return seqs


def save_conversations(
    *,
    created: Sequence[tuple[Conversation, tuple[int, int] | None]] = (),
    changed: Sequence[tuple[Conversation, tuple[int, int] | None]] = (),
    fields: Sequence[str] = (),
) -> None:
    """``save_changed`` (and the create's change number) for many conversations in one
    transaction: each gets its own change number, taken owner by owner in one fixed
    order (``next_change_seqs``), so two such writers take the counters' locks in the
    same order; then one INSERT of the ``created`` rows and one UPDATE of the
    ``changed`` ones (``fields``: every field any of them changed). Each pair carries
    the seqs (first, last) of the messages the write stored, or None.

    The caller already holds the changed conversations' row locks (taken before any
    counter's: the one lock order).
    """
    now = timezone.now()
    by_owner: dict[Any, list[tuple[Conversation, tuple[int, int] | None]]] = {}
    for conversation, stored in [*created, *changed]:
        by_owner.setdefault(conversation.owner_id, []).append((conversation, stored))
    for owner_id in sorted(by_owner, key=str):
        group = by_owner[owner_id]
        seqs = next_change_seqs(
            owner_id=owner_id,
            changes=[(conversation.id, stored) for conversation, stored in group],
        )
        for (conversation, _), change_seq in zip(group, seqs, strict=True):
            conversation.change_seq = change_seq
    for conversation, _ in changed:
        conversation.updated_at = now
    if created:
        bulk_insert.insert([conversation for conversation, _ in created])
    if changed:
        Conversation.objects.bulk_update(
            [conversation for conversation, _ in changed],
            fields=[*fields, "updated_at", "change_seq"],
        )


def _resolve_tags(*, user, names: Sequence[str]) -> list[Tag]:
    if not names:
        return []
    Tag.objects.bulk_create([Tag(owner=user, name=name) for name in names], ignore_conflicts=True)
    by_name = {tag.name: tag for tag in Tag.objects.filter(owner=user, name__in=names)}
    return [by_name[name] for name in names]


@dataclass(frozen=True)
class AddedConversation:
    conversation: Conversation
    created: bool  # False when client_id named a conversation the user already made


class ConversationDeleted(Conversation.DoesNotExist):
    """A create with the client_id of a conversation the user has since deleted: it is
    not made again (a replayed offline queue must not bring it back). A
    ``DoesNotExist``, so every caller answers it as the 404 of a deleted conversation."""


def create_conversation(
    *,
    user,
    title: str | None = None,
    tags: Sequence[str] | None = None,
    is_pinned: bool = False,
    instructions: str = "",
    summary: str = "",
    legacy_key: str | None = None,
    client_id: uuid.UUID | str | None = None,
) -> Conversation:
    return add_conversation(
        user=user,
        title=title,
        tags=tags,
        is_pinned=is_pinned,
        instructions=instructions,
        summary=summary,
        legacy_key=legacy_key,
        client_id=client_id,
    ).conversation


def add_conversation(
    *,
    user,
    title: str | None = None,
    tags: Sequence[str] | None = None,
    is_pinned: bool = False,
    instructions: str = "",
    summary: str = "",
    legacy_key: str | None = None,
    client_id: uuid.UUID | str | None = None,
) -> AddedConversation:
    """A new conversation; with a ``client_id`` the user already used, the conversation
    made with it, unchanged (``created`` False), or ``ConversationDeleted`` when the user
    has deleted it since.

    Two creates with one client_id at once (a phone replaying its queue while the first
    answer is still on its way) make one conversation: the one that loses the race on
    the partial unique constraint rolls back to its savepoint and reads the winner's.
    """
    # Every bound first, also for a replay: the same body answers the same way each time.
    errors = validation.FieldErrors()
    _check_conversation_fields(title=title, tags=tags, instructions=instructions, errors=errors)
    clean_client_id = errors.check("client_id", validation.clean_client_id, client_id)
    errors.raise_if_any()
    with transaction.atomic():
        if clean_client_id is None:
            return AddedConversation(
                conversation=_insert_conversation(
                    user=user,
                    title=title,
                    tags=tags,
                    is_pinned=is_pinned,
                    instructions=instructions,
                    summary=summary,
                    legacy_key=legacy_key,
                    stamp_change=True,
                ),
                created=True,
            )
        stored = _made_with(user=user, client_id=clean_client_id)
        if stored is not None:
            return AddedConversation(conversation=stored, created=False)
        try:
            with transaction.atomic():
                conversation = _insert_conversation(
                    user=user,
                    title=title,
                    tags=tags,
                    is_pinned=is_pinned,
                    instructions=instructions,
                    summary=summary,
                    legacy_key=legacy_key,
                    client_id=clean_client_id,
                    stamp_change=True,
                )
        except IntegrityError:
            # Another create with this client_id committed first (READ COMMITTED: the
            # next statement sees it). Any other integrity error is not ours to hide.
            stored = _made_with(user=user, client_id=clean_client_id)
            if stored is None:
                raise
            return AddedConversation(conversation=stored, created=False)
        return AddedConversation(conversation=conversation, created=True)


def _made_with(*, user, client_id: uuid.UUID) -> Conversation | None:
    """The user's conversation made with ``client_id``; None if there is none yet;
    ``ConversationDeleted`` if the user deleted it."""
    stored = access.owned_conversations(user=user).filter(client_id=client_id).first()
    if (
        stored is None
        and DeletedConversation.objects.filter(owner=user, client_id=client_id).exists()
    ):
        raise ConversationDeleted
    return stored


def start_import(
    *,
    user,
    title: str | None,
    tags: Sequence[str] | None,
    is_pinned: bool,
    instructions: str = "",
    import_key: tuple[str, str] | None = None,
) -> Conversation:
    """A new conversation row for an import, not yet stamped with a change number.

    Every write of a user takes the user's change counter, and holds it until commit;
    an import that took it first would stall all of them while it inserts thousands of
    messages. The caller (inside its transaction) stamps the row last, with
    ``save_changed``, just before commit; until then the row is invisible to everyone.
    """
    return _insert_conversation(
        user=user,
        title=title,
        tags=tags,
        is_pinned=is_pinned,
        instructions=instructions,
        import_key=import_key,
        stamp_change=False,
    )


def _check_conversation_fields(
    *,
    title: str | None,
    tags: Sequence[str] | None,
    instructions: str = "",
    errors: validation.FieldErrors,
) -> tuple[str, list[str], str]:
    clean_title = errors.check("title", validation.clean_title, title) if title is not None else ""
    clean_tags = errors.check("tags", validation.clean_tags, tags) if tags is not None else []
    clean_instructions = errors.check("instructions", validation.clean_instructions, instructions)
    return clean_title, clean_tags, clean_instructions


def _insert_conversation(
    *,
    user,
    title: str | None,
    tags: Sequence[str] | None,
    is_pinned: bool,
    instructions: str = "",
    summary: str = "",
    legacy_key: str | None = None,
    client_id: uuid.UUID | None = None,
    import_key: tuple[str, str] | None = None,
    stamp_change: bool,
) -> Conversation:
    errors = validation.FieldErrors()
    clean_title, clean_tags, clean_instructions = _check_conversation_fields(
        title=title, tags=tags, instructions=instructions, errors=errors
    )
    errors.raise_if_any()
    now = timezone.now()
    conversation_id = uuid.uuid4()
    conversation = Conversation.objects.create(
        id=conversation_id,
        owner=user,
        title=clean_title,
        title_set_by_user=bool(clean_title),
        summary=validation.bounded_summary(summary),
        is_pinned=bool(is_pinned),
        instructions=clean_instructions,
        legacy_key=legacy_key,
        client_id=client_id,
        import_source=import_key[0] if import_key else None,
        import_id=import_key[1] if import_key else None,
        last_activity_at=now,
        created_at=now,
        updated_at=now,
        change_seq=(
            next_change_seq(owner_id=user.pk, conversation_id=conversation_id)
            if stamp_change
            else 0
        ),
    )
    if clean_tags:
        conversation.tags.set(_resolve_tags(user=user, names=clean_tags))
    transaction.on_commit(lambda: metrics.conversations_created.labels(source="app").inc())
    return conversation


def _clean_new_message(message: NewMessage, *, errors: validation.FieldErrors) -> NewMessage:
    """The message with every field cleaned; with errors recorded, the message as given
    (callers raise the errors before storing anything)."""
    before = len(errors.errors)
    role = errors.check("role", validation.clean_role, message.role)
    content = errors.check("content", validation.clean_content, message.content)
    attachments = errors.check("attachments", validation.clean_attachments, message.attachments)
    metadata = errors.check("metadata", validation.clean_metadata, message.metadata)
    client_id = errors.check("client_id", validation.clean_client_id, message.client_id)
    if len(errors.errors) != before:
        return message
    return NewMessage(
        role=role,
        content=content,
        attachments=attachments,
        metadata=metadata,
        client_id=client_id,
        created_at=message.created_at,
    )


def _count_messages(messages: Sequence[Message]) -> None:
    for message in messages:
        metrics.messages_stored.labels(role=message.role).inc()


def _parent_for(conversation: Conversation, *, parent_id: Any) -> tuple[uuid.UUID | None, int]:
    """The parent a new message goes under, with the parent's depth: the message given
    (it must be one of this conversation's), none for ``NO_PARENT``, else the
    conversation's current message. ``ValidationError`` on ``parent_id`` when the
    message is not this conversation's: the conversation was already found the
    caller's, so a 400, not a 404."""
    if parent_id is NO_PARENT:
        return None, 0
    if parent_id is None:
        target = conversation.current_message_id
        if target is None:
            return None, 0
    else:
        target = access.as_uuid(parent_id)
    depth = (
        Message.objects.filter(conversation=conversation, pk=target)
        .values_list("depth", flat=True)
        .first()
        if target is not None
        else None
    )
    if depth is None:
        raise ValidationError({"parent_id": ["Not a message of this conversation."]})
    return target, depth


def _append(
    conversation: Conversation, messages: Sequence[NewMessage], *, parent_id: Any = None
) -> list[Message]:
    """Insert messages, each under the one before, the first under ``parent_id`` (None:
    the current message; ``NO_PARENT``: none, a first message), into a conversation
    whose row lock the caller holds. The last becomes the conversation's current
    message: the branch shown ends with it."""
    parent, depth = _parent_for(conversation, parent_id=parent_id)
    now = timezone.now()
    rows = []
    for offset, message in enumerate(messages, start=1):
        row = Message(
            id=uuid.uuid4(),
            conversation=conversation,
            owner_id=conversation.owner_id,
            seq=conversation.message_count + offset,
            parent_id=parent,
            depth=depth + offset,
            role=message.role,
            content=message.content,
            attachments=message.attachments,
            metadata=message.metadata,
            client_id=message.client_id,
            created_at=message.created_at or now,
        )
        rows.append(row)
        parent = row.id
    Message.objects.bulk_create(rows)
    transaction.on_commit(lambda: _count_messages(rows))
    newest = rows[-1]
    grows_the_branch = rows[0].parent_id == conversation.current_message_id
    conversation.message_count += len(rows)
    conversation.current_message = newest
    conversation.preview = newest.content[:200]
    conversation.last_activity_at = max(conversation.last_activity_at, newest.created_at)
    fields = ["message_count", "current_message", "preview", "last_activity_at"]
    if not grows_the_branch:
        # A new branch (an edit, a regenerated reply): it may not reach the summary
        # shown. Growing the current branch keeps every summary it had.
        fields += branch_summaries.show_for_current_branch(conversation)
    save_changed(conversation, fields=fields, stored_seqs=(rows[0].seq, newest.seq))
    return rows


def add_message(
    *,
    user,
    conversation_id: Any,
    role: str,
    content: str,
    attachments: list[str] | None = None,
    metadata: dict | None = None,
    client_id: uuid.UUID | str | None = None,
    created_at: datetime | None = None,
    parent_id: Any = None,
) -> AddedMessage:
    """Add one message under ``parent_id`` (a message of the conversation; None: the
    current message; ``NO_PARENT``: a new first message) and make it current; with a
    client_id already stored, return that one instead and change nothing."""
    errors = validation.FieldErrors()
    message = _clean_new_message(
        NewMessage(
            role=role,
            content=content,
            attachments=attachments,
            metadata=metadata,
            client_id=client_id,
            created_at=created_at,
        ),
        errors=errors,
    )
    errors.raise_if_any()
    with transaction.atomic():
        conversation = _lock_conversation(user=user, conversation_id=conversation_id)
        if message.client_id is not None:
            # Under the conversation's lock, so two retries of one send cannot both
            # pass this check; the partial unique constraint is the net.
            stored = Message.objects.filter(
                conversation=conversation, client_id=message.client_id
            ).first()
            if stored is not None:
                return AddedMessage(message=stored, created=False)
        # The user's own files it names (404 for anyone else's), locked until commit; a
        # message naming none runs nothing of the files' module.
        names_files = any(
            item.startswith(files.ATTACHMENT_PREFIX) for item in message.attachments or ()
        )
        attached = (
            files.files_to_attach(user=user, attachments=message.attachments) if names_files else []
        )
        (stored,) = _append(conversation, [message], parent_id=parent_id)
        if attached:
            files.link(message=stored, files=attached)
    return AddedMessage(message=stored, created=True)


def clean_new_messages(messages: Sequence[NewMessage]) -> list[NewMessage]:
    """Every message cleaned, or one ``ValidationError`` naming each bad field by its
    place (``messages[3].content``) before anything is stored."""
    errors = validation.FieldErrors()
    cleaned = []
    for index, message in enumerate(messages):
        item_errors = validation.FieldErrors()
        cleaned.append(_clean_new_message(message, errors=item_errors))
        for name, problems in item_errors.errors.items():
            for problem in problems:
                errors.add(f"messages[{index}].{name}", problem)
    errors.raise_if_any()
    return cleaned


def add_messages(*, user, conversation_id: Any, messages: Sequence[NewMessage]) -> list[Message]:
    """Append many messages in one transaction (imports): all are stored or none."""
    cleaned = clean_new_messages(messages)
    if not cleaned:
        return []
    with transaction.atomic():
        conversation = _lock_conversation(user=user, conversation_id=conversation_id)
        return _append(conversation, cleaned)


@transaction.atomic
def update_conversation(
    *,
    user,
    conversation_id: Any,
    title: str = UNSET,
    is_archived: bool = UNSET,
    is_pinned: bool = UNSET,
    tags: Sequence[str] = UNSET,
    instructions: str = UNSET,
    current_message_id: Any = UNSET,
) -> Conversation:
    """Change any of title, archived, pinned, tags, instructions and the branch shown at
    once (the API's PATCH). ``current_message_id`` (any message of the conversation) shows the
    branch through it: the path to it and, below it, always the newest child to a leaf."""
    errors = validation.FieldErrors()
    clean_title = (
        errors.check("title", validation.clean_title, title) if title is not UNSET else UNSET
    )
    clean_tags = errors.check("tags", validation.clean_tags, tags) if tags is not UNSET else UNSET
    clean_instructions = (
        errors.check("instructions", validation.clean_instructions, instructions)
        if instructions is not UNSET
        else UNSET
    )
    errors.raise_if_any()
    conversation = _lock_conversation(user=user, conversation_id=conversation_id)
    fields: list[str] = []
    if clean_title is not UNSET:
        conversation.title = clean_title
        conversation.title_set_by_user = True
        fields += ["title", "title_set_by_user"]
    if is_archived is not UNSET and bool(is_archived) != conversation.is_archived:
        conversation.is_archived = bool(is_archived)
        conversation.archived_at = timezone.now() if is_archived else None
        fields += ["is_archived", "archived_at"]
    if is_pinned is not UNSET and bool(is_pinned) != conversation.is_pinned:
        conversation.is_pinned = bool(is_pinned)
        fields += ["is_pinned"]
    if clean_instructions is not UNSET and clean_instructions != conversation.instructions:
        conversation.instructions = clean_instructions
        fields += ["instructions"]
    if clean_tags is not UNSET:
        conversation.tags.set(_resolve_tags(user=user, names=clean_tags))
    if current_message_id is not UNSET:
        fields += _switch_branch(conversation, message_id=current_message_id)
    if fields or clean_tags is not UNSET:
        save_changed(conversation, fields=fields)
    return conversation


def _switch_branch(conversation: Conversation, *, message_id: Any) -> list[str]:
    """Point the locked conversation at the leaf below ``message_id``; the fields changed
    (none when that branch is already shown)."""
    message_uuid = access.as_uuid(message_id)
    leaf = (
        branches.newest_leaf(conversation_id=conversation.id, message_id=message_uuid)
        if message_uuid is not None
        else None
    )
    if leaf is None:
        raise ValidationError({"current_message_id": ["Not a message of this conversation."]})
    if leaf == conversation.current_message_id:
        return []
    conversation.current_message_id = leaf
    conversation.preview = (
        Message.objects.filter(pk=leaf).values_list("content", flat=True).get()[:200]
    )
    return ["current_message", "preview", *branch_summaries.show_for_current_branch(conversation)]


def switch_branch(*, user, conversation_id: Any, message_id: Any) -> Conversation:
    """Show the branch through ``message_id`` (see ``update_conversation``)."""
    return update_conversation(
        user=user, conversation_id=conversation_id, current_message_id=message_id
    )


def rename_conversation(*, user, conversation_id: Any, title: str) -> Conversation:
    """Give a conversation the user's own title; no generated title replaces it later."""
    return update_conversation(user=user, conversation_id=conversation_id, title=title)


def archive_conversation(*, user, conversation_id: Any) -> Conversation:
    return update_conversation(user=user, conversation_id=conversation_id, is_archived=True)


def unarchive_conversation(*, user, conversation_id: Any) -> Conversation:
    return update_conversation(user=user, conversation_id=conversation_id, is_archived=False)


def pin_conversation(*, user, conversation_id: Any) -> Conversation:
    return update_conversation(user=user, conversation_id=conversation_id, is_pinned=True)


def unpin_conversation(*, user, conversation_id: Any) -> Conversation:
    return update_conversation(user=user, conversation_id=conversation_id, is_pinned=False)


def set_tags(*, user, conversation_id: Any, tags: Sequence[str]) -> Conversation:
    return update_conversation(user=user, conversation_id=conversation_id, tags=tags)


def set_instructions(*, user, conversation_id: Any, instructions: str) -> Conversation:
    """The chat's standing instructions (empty: none); the next reply's system prompt
    carries them (context.py)."""
    return update_conversation(
        user=user, conversation_id=conversation_id, instructions=instructions
    )


def add_tags(*, user, conversation_id: Any, tags: Sequence[str]) -> Conversation:
    """Give the conversation these tags besides the ones it has (the bulk ``add_tags``);
    a 400 on ``tags`` when it would carry more than NUMINA_MAX_TAGS."""
    return _edit_tags(user=user, conversation_id=conversation_id, tags=tags, adding=True)


def remove_tags(*, user, conversation_id: Any, tags: Sequence[str]) -> Conversation:
    """Take these tags off the conversation (names it does not carry are ignored)."""
    return _edit_tags(user=user, conversation_id=conversation_id, tags=tags, adding=False)


@transaction.atomic
def _edit_tags(*, user, conversation_id: Any, tags: Sequence[str], adding: bool) -> Conversation:
    # Read and written under the conversation's row lock, so two edits at once (a bulk
    # add beside a PATCH) never lose each other's tags.
    errors = validation.FieldErrors()
    names = errors.check("tags", validation.clean_tags, tags)
    errors.raise_if_any()
    conversation = _lock_conversation(user=user, conversation_id=conversation_id)
    current = list(conversation.tags.order_by("name").values_list("name", flat=True))
    if adding:
        wanted = current + [name for name in names if name not in current]
    else:
        wanted = [name for name in current if name not in names]
    if wanted == current:
        # Nothing changes: no change number, no event (a repeated bulk request is free).
        return conversation
    wanted = errors.check("tags", validation.clean_tags, wanted)
    errors.raise_if_any()
    conversation.tags.set(_resolve_tags(user=user, names=wanted))
    save_changed(conversation, fields=[])
    return conversation
