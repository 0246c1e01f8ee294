"""Conversations and their messages: Numina's permanent store.

Rules the schema carries (DESIGN.md): a message's ``seq`` is unique within its
conversation and assigned under a row lock on the conversation; a client-sent message is
unique by ``client_id`` within its conversation; an imported conversation is unique by
``legacy_key``. A conversation is a tree of messages (branches: edits and regenerated
replies are siblings, nothing is overwritten): each message names its ``parent`` and
carries its ``depth`` (1 for a first message), and the conversation's
``current_message`` is the leaf of the branch being shown. Everything that changes a
conversation moves its ``change_seq`` forward (see ``ChangeCounter``), which is what sync
pages over.
"""

import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.contrib.postgres.search import SearchVectorField
from django.db import connection, models
from django.db.models import OuterRef, Q, QuerySet
from django.utils import timezone

# The full-text configuration of the message search index. It is part of the index
# expression (migration 0002), so queries must use the same value to hit the index.
SEARCH_CONFIG = "english"


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    SYSTEM = "system", "System"


class Tag(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tags"
    )
    name = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="tag_unique_owner_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ConversationQuerySet(models.QuerySet):
    def owned_by(self, user) -> "ConversationQuerySet":
        # The project's one ownership filter on conversations: called only by
        # conversations/access.py, which every reader and writer goes through. A
        # conversation in the trash is no longer the user's to read or change (API.md:
        # it answers 404 everywhere but the trash), so the one door leaves it out.
        return self.filter(owner=user).untrashed()

    def trashed_by(self, user) -> "ConversationQuerySet":
        # The user's trash: the only door to trashed conversations (access.py again).
        return self.filter(owner=user, trashed_at__isnull=False)

    def untrashed(self) -> "ConversationQuerySet":
        # For the readers that act for no user (the sweepers, the tasks): a trashed
        # conversation gets no title, summary or other follow-up work.
        return self.filter(trashed_at__isnull=True)

    def active(self) -> "ConversationQuerySet":
        return self.filter(is_archived=False)

    def archived(self) -> "ConversationQuerySet":
        return self.filter(is_archived=True)

    def with_tag_names(self) -> "ConversationQuerySet":
        """Each conversation's tag names, sorted, as ``tag_names`` (read by ``tag_list``).

        On PostgreSQL an array subquery inside the same query (one round trip for a page
        of conversations and all their tags); elsewhere a prefetch (a second query).
        """
        if connection.vendor == "postgresql":
            names = Tag.objects.filter(conversations=OuterRef("pk")).order_by("name").values("name")
            return self.annotate(tag_names=ArraySubquery(names))
        return self.prefetch_related("tags")

    def answer_rows(self, *columns: str) -> "QuerySet[Any, dict[str, Any]]":
        """``values()`` of ``columns`` and ``tag_names`` (the sorted tag names of
        ``with_tag_names``), for the answers that need no model instance (issue 19). On
        PostgreSQL the names come in the same query; elsewhere they are absent and
        ``selectors.attach_tag_names`` adds them to a page."""
        if connection.vendor == "postgresql":
            return self.values(*columns, "tag_names")
        return self.values(*columns)

    def by_last_activity(self) -> "ConversationQuerySet":
        # id breaks ties so that keyset pages neither repeat nor skip rows that share
        # a timestamp.
        return self.order_by("-last_activity_at", "-id")


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    # Titles are bounded by NUMINA_TITLE_MAX_LENGTH in validation.py, not by the column,
    # so the limit stays a setting.
    title = models.TextField(blank=True, default="")
    # Set once the user names the conversation: a generated title never replaces it.
    title_set_by_user = models.BooleanField(default=False)
    # The summary the current branch uses (empty: none) and the seq of the last message
    # it covers (0: it covers none). Kept in sync, not derived: a branch switch and a new
    # summary copy the branch's best ConversationSummary here (branch_summaries.py), so
    # the API, search and export read one column. The context never trusts the copy
    # blindly: it uses it only when that message is on the branch it is built for.
    summary = models.TextField(blank=True, default="")
    summary_covers_seq = models.PositiveIntegerField(default=0)
    # The user's standing instructions for this chat, sent in the system prompt of every
    # reply (context.py); bounded by NUMINA_INSTRUCTIONS_MAX_LENGTH in validation.py.
    instructions = models.TextField(blank=True, default="")
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    is_pinned = models.BooleanField(default=False)
    tags = models.ManyToManyField(Tag, blank=True, related_name="conversations")
    message_count = models.PositiveIntegerField(default=0)
    # Denormalised from the newest message so a page of conversations costs no query
    # per row.
    preview = models.CharField(max_length=200, blank=True, default="")
    last_activity_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # When the user moved it to the trash (null: not in the trash). Everything else of
    # the row is kept as it was, so a restore puts it back where it was; the trash is
    # emptied NUMINA_TRASH_DAYS after this (services/trash.py).
    trashed_at = models.DateTimeField(null=True, blank=True)
    # Position in the owner's change stream (ChangeCounter); sync pages over it.
    change_seq = models.BigIntegerField(default=0)
    legacy_key = models.CharField(max_length=1024, null=True, blank=True, unique=True)
    # Where an import brought the conversation from (chatgpt, claude, openwebui, numina)
    # and its id there: a second import of the same file finds it and creates nothing.
    # Unique per owner (two users may import the same shared export); null otherwise:
    # null, not "", so the partial unique index holds imported rows only.
    import_source = models.CharField(max_length=16, null=True, blank=True)  # noqa: DJ001
    import_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # Chosen by a client that created the conversation offline (API.md, the offline
    # queue): a create sent again with it answers the stored conversation instead of
    # making a second one. Unique per owner; two users may pick the same one.
    client_id = models.UUIDField(null=True, blank=True)
    # The last message of the branch being shown (null while there are no messages).
    # DO_NOTHING: messages are never deleted one by one, only with their conversation,
    # and PostgreSQL's deferred foreign key still checks the reference at commit; any
    # Django-side handler would turn the cascade from a conversation into a query per
    # batch of messages instead of one DELETE.
    current_message = models.ForeignKey(
        "Message",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = ConversationQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-last_activity_at", "-id"], name="conv_owner_activity"),
            models.Index(
                fields=["owner", "is_archived", "-last_activity_at", "-id"],
                name="conv_owner_archived_activity",
            ),
            models.Index(fields=["owner", "change_seq"], name="conv_owner_change_seq"),
            # Partial: only trashed rows, a small share of all. The trash list (newest
            # trashed first, keyset-paged) and the messages' "not in the trash" filter
            # (MessageQuerySet.owned_by) read the first; emptying the trash across all
            # users reads the second.
            models.Index(
                fields=["owner", "-trashed_at", "-id"],
                condition=Q(trashed_at__isnull=False),
                name="conv_owner_trash",
            ),
            models.Index(
                fields=["trashed_at"],
                condition=Q(trashed_at__isnull=False),
                name="conv_trash_purge",
            ),
        ]
        constraints = [
            # Also the index a replayed create finds its conversation by.
            models.UniqueConstraint(
                fields=["owner", "client_id"],
                condition=Q(client_id__isnull=False),
                name="conversation_unique_client_id",
            ),
            # Also the index a re-import finds its conversations by.
            models.UniqueConstraint(
                fields=["owner", "import_source", "import_id"],
                condition=Q(import_id__isnull=False),
                name="conversation_unique_import_key",
            ),
        ]

    def __str__(self) -> str:
        return self.title or "New chat"

    @property
    def display_title(self) -> str:
        return self.title or "New chat"

    @property
    def tag_list(self) -> list[str]:
        """Tag names, sorted: from the ``with_tag_names`` annotation when the query
        made one, else from the tags relation (prefetched or not)."""
        names = getattr(self, "tag_names", None)
        return list(names) if names is not None else [tag.name for tag in self.tags.all()]


class MessageQuerySet(models.QuerySet):
    def owned_by(self, user) -> "MessageQuerySet":
        # By the owner copied onto each message (no join); as ConversationQuerySet's,
        # called only by conversations/access.py. The messages of a trashed conversation
        # are kept but are no longer the user's to read (search, sync, export leave them
        # out): an anti-join against the user's trash, which the partial index
        # conv_owner_trash answers from its few rows, still no join per message.
        trash = Conversation.objects.trashed_by(user).values("pk")
        return self.filter(owner=user).exclude(conversation_id__in=trash)


class MessageManager(models.Manager.from_queryset(MessageQuerySet)):  # type: ignore[misc]  # django-stubs types from_queryset only at module level
    def get_queryset(self) -> models.QuerySet:
        # The stored tsvector is for PostgreSQL's eyes only (search filters and ranks on
        # it in SQL); fetching it with every message would detoast it for nothing.
        return super().get_queryset().defer("search_vector")


class Message(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    # The conversation's owner, copied onto each message so that search can find a user's
    # matching messages in one index (owner, search_vector) instead of joining through
    # every conversation. Set by the services; never changes.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    seq = models.PositiveIntegerField()
    # The message this one follows; null for a first message (and for the versions of
    # a first message, which are siblings of each other). DO_NOTHING for the reason
    # given on Conversation.current_message.
    parent = models.ForeignKey(
        "self", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="children"
    )
    # 1 + the parent's depth: how far down its branch a message is. It bounds a walk up
    # a branch ("the newest n of the current branch" stops n levels up) and tells
    # whether a message can be an ancestor of another without walking.
    depth = models.PositiveIntegerField(default=1)
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    attachments = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    client_id = models.UUIDField(null=True, blank=True)
    token_count = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Maintained by PostgreSQL itself (a tsvector_update_trigger, migration 0003) from
    # ``content`` with SEARCH_CONFIG, so it is right whoever writes the row — the ORM,
    # a bulk COPY or a migration. Always empty on the SQLite embedded default.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = MessageManager()

    class Meta:
        constraints = [
            # Also the index that reads a conversation's messages in seq order.
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_unique_client_id",
            ),
        ]
        indexes = [
            # The versions of a first message (siblings with no parent); the other
            # siblings, and a node's newest child, come from the parent's index.
            models.Index(
                fields=["conversation", "seq"],
                condition=Q(parent__isnull=True),
                name="message_roots",
            ),
            # A user's messages by time: search's ``after`` / ``before`` (combined with
            # the search index when the range is narrow) and the statistics by month.
            models.Index(fields=["owner", "created_at"], name="message_owner_created"),
        ]
        ordering = ["conversation", "seq"]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.seq} {self.role}"


class ConversationSummary(models.Model):
    """A summary kept for a branch: it stands in, in the context, for the messages of the
    path from the first message down to ``covers`` (``depth`` of them).

    It is valid for a branch iff ``covers`` is on it (an ancestor-or-self of the branch's
    leaf); one that covers no message (``covers`` null, ``depth`` 0: a summary from before
    the first message, as a legacy store keeps) is valid on every branch. A conversation
    keeps its newest few (services/branch_summaries.py), so switching back to a branch
    reuses its summary instead of asking the model again. The one the current branch
    uses is also copied onto ``Conversation.summary`` / ``summary_covers_seq`` (what the
    API, search and export show).
    """

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="kept_summaries"
    )
    # DO_NOTHING for the reason given on Conversation.current_message; the index stays:
    # PostgreSQL's foreign key check looks summaries up by it when messages are deleted.
    covers = models.ForeignKey(
        Message, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+"
    )
    # covers.depth (a message's depth never changes): how many messages it stands for.
    depth = models.PositiveIntegerField(default=0)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The conversation's own foreign key index finds its few rows; no other index.
        ordering = ["conversation", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.conversation_id} up to depth {self.depth}"


class DeletedConversation(models.Model):
    """The record that a conversation existed and was deleted, so sync can report it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deleted_conversations"
    )
    conversation_id = models.UUIDField()
    # The deleted conversation's client_id: a replayed offline queue that creates it
    # again finds it deleted instead of making it anew (services.add_conversation).
    client_id = models.UUIDField(null=True, blank=True)
    deleted_at = models.DateTimeField(default=timezone.now)
    change_seq = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["owner", "change_seq"], name="deleted_owner_change_seq"),
            # "Did this user delete it?": a replayed delete or create of the offline queue.
            models.Index(fields=["owner", "conversation_id"], name="deleted_owner_conversation"),
            models.Index(
                fields=["owner", "client_id"],
                condition=Q(client_id__isnull=False),
                name="deleted_owner_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"deleted {self.conversation_id}"


class MessageBatch(models.Model):
    """The messages one write stored: seqs ``first_seq`` to ``last_seq`` of one
    conversation (a write stores a gapless run; seq is the storage order), at position
    ``change_seq`` of the owner's change stream, the change number that write took.

    Sync with messages pages over these rather than over the messages themselves: a
    write inserts its messages before it takes its change number (the number's lock is
    held to commit, and a 10,000-message import must not hold it while it inserts, see
    services.next_change_seq), so a message could carry its number only by being written
    twice. One row a write, inserted with the number in the same statement. The messages
    stored before these existed are one row per conversation at its change number then
    (migration 0010).
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    change_seq = models.BigIntegerField()
    first_seq = models.PositiveIntegerField()
    last_seq = models.PositiveIntegerField()

    class Meta:
        constraints = [
            # One write, one change number, one conversation; also sync's index.
            models.UniqueConstraint(
                fields=["owner", "change_seq"], name="message_batch_unique_change"
            )
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}#{self.first_seq}-{self.last_seq}@{self.change_seq}"


class ChangeCounter(models.Model):
    """Each user's change stream position.

    Every write to a user's conversations takes the next value while holding this row's
    lock until commit, so a user's changes become visible in the order of their numbers.
    Timestamps cannot promise that (a transaction that started earlier may commit later),
    and sync's exactly-once promise rests on it.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.owner_id}: {self.value}"


class PendingInvalidation(models.Model):
    """A cache invalidation that could not reach Redis, kept until it is replayed there
    (conversations/cache.py), so an outage can never leave an old entry readable."""

    owner_id = models.UUIDField()
    conversation_id = models.UUIDField()
    change_seq = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.owner_id}:{self.conversation_id}@{self.change_seq}"


class TokenUsage(models.Model):
    """Model tokens spent for one user on one UTC day: what the daily budget is checked
    against (services/spend.py). One row per user per day, raised with F() increments,
    so concurrent calls never lose each other's counts."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_usage"
    )
    day = models.DateField()
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "day"], name="token_usage_unique_owner_day")
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} {self.day}: {self.input_tokens}+{self.output_tokens}"


class ImportJob(models.Model):
    """One uploaded file imported in the background (a large one: see
    services.bulk_import), with what it has done so far for the UI to show.

    The upload itself waits in ``data`` — in the database, so the web and the worker
    need no shared disk — and is dropped once the job has run."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    filename = models.CharField(max_length=255, blank=True, default="")
    size = models.BigIntegerField(default=0)
    data = models.BinaryField(null=True, editable=False)
    # Conversations found in the file, and how many have been dealt with so far.
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    # [{"item", "detail"}], as the synchronous answer lists them (bounded: bulk_import).
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created_at"], name="import_job_owner_created")]

    def __str__(self) -> str:
        return f"import {self.id} ({self.status})"


class ShareLink(models.Model):
    """A read-only link to a snapshot of one conversation, for anyone who has it.

    The link's token is shown once, when it is made (services/sharing.py); only its
    SHA-256 is stored, and a link is found by that hash (the unique index), so a copy of
    the database opens no shared chat. The snapshot is the branch shown when the link was
    made: the path from the first message down to ``last_message_id`` (messages are never
    changed or removed one by one, so the path is fixed), and the title then. A message
    added later, another branch chosen later, or a rename is not seen through the link.

    The row goes with its conversation (deleted for good, or with its owner's account) by
    the cascade; moving the conversation to the trash or "Stop sharing" deletes it too.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="share_links"
    )
    # hex SHA-256 of the token.
    token_hash = models.CharField(max_length=64, unique=True)
    # The leaf of the snapshot's branch: an id, not a foreign key, for the reason given
    # on Conversation.current_message (messages go only with their conversation, and
    # this row goes first, by the cascade).
    last_message_id = models.UUIDField()
    title = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The conversation's foreign key index finds its few links (the chat page's
        # "shared", Stop sharing, the bound per conversation).
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"share of {self.conversation_id} ({self.created_at:%Y-%m-%d})"


class UserFile(models.Model):
    """A file a user uploaded (API.md "Files"): its bytes live in the ``files`` storage
    under ``storage_name``, an opaque name (``files/<sha256[:2]>/<uuid>``) that never
    holds the user's file name, so no name can reach a path on disk or a key in a bucket.

    ``name`` is the cleaned display name, ``content_type`` the type judged from the
    content (never the client's), ``sha256`` computed while the upload streamed in.
    Immutable once stored; messages reference it through ``MessageFile``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    storage_name = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    # Images only: read by Pillow at upload.
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # PDFs only: read by pypdf at upload (the model takes at most 100 pages).
    pages = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The owner's quota (a sum over their rows) and the account's files.
            models.Index(fields=["owner", "created_at"], name="user_file_owner_created"),
            # The sweeper's scan for old files no message references.
            models.Index(fields=["created_at"], name="user_file_created"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_type}, {self.size} bytes)"


class MessageFile(models.Model):
    """That a message carries a file (its ``attachments`` names it as ``file:<id>``), at
    ``position`` among its attachments. A referenced file is kept (PROTECT: deleting it
    is refused, API.md's DELETE answers 409); deleting the message's conversation removes
    these rows and so frees the file.

    The message key is DO_NOTHING for the reason given on Conversation.current_message: a
    CASCADE would make Django fetch every message of a deleted conversation to find these
    rows. The deletions remove them first, in the same transaction (services/files.py,
    ``unlink_conversations`` / ``unlink_owner``); PostgreSQL's deferred key checks the
    rest at commit."""

    message = models.ForeignKey(Message, on_delete=models.DO_NOTHING, related_name="file_links")
    file = models.ForeignKey(UserFile, on_delete=models.PROTECT, related_name="message_links")
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "file"], name="message_file_unique"),
        ]
        ordering = ["message", "position"]

    def __str__(self) -> str:
        return f"{self.message_id} #{self.position}: {self.file_id}"
