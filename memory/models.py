"""Memory across conversations: what the user told the assistant about themselves.

A ``MemoryItem`` is one thing kept about a user (their name, their role, an interest, a
preference, a lasting fact). Items come from two places: the extraction task, which asks
the model after replies (``user_written`` false), and the user, who adds, edits or
confirms them on the memory page or through the API (``user_written`` true: extraction
never replaces or deletes those). ``subject`` is the normalised key that makes "the same
thing" the same row: a name is always subject "name", so "actually, call me Adda"
replaces the name instead of adding a second one.

``ExtractionMark`` is how far in a conversation extraction has read (the highest message
seq it has seen), so each run asks the model about the turns since the last one only.
"""

import uuid

from django.conf import settings
from django.db import models

CONTENT_MAX_LENGTH = 500
SUBJECT_MAX_LENGTH = 100


class Kind(models.TextChoices):
    NAME = "name", "Name"
    ROLE = "role", "Role"
    INTEREST = "interest", "Interest"
    PREFERENCE = "preference", "Preference"
    FACT = "fact", "Fact"


# Kinds a person has one of: the kind is the subject, so a new one replaces the old.
SINGULAR_KINDS = frozenset({Kind.NAME, Kind.ROLE})


class MemoryItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_items"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    subject = models.CharField(max_length=SUBJECT_MAX_LENGTH)
    content = models.CharField(max_length=CONTENT_MAX_LENGTH)
    # Where an extracted item was last learnt; kept when the conversation goes.
    source_conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    user_written = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One extracted item per subject: a changed fact replaces the old one.
            models.UniqueConstraint(
                fields=["owner", "kind", "subject"],
                condition=models.Q(user_written=False),
                name="memory_one_extracted_per_subject",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=Kind.values), name="memory_kind_known"
            ),
            models.CheckConstraint(
                condition=~models.Q(content=""), name="memory_content_not_empty"
            ),
        ]
        indexes = [
            # The memory page and the API's list: newest first, keyset on (created_at, id).
            models.Index(fields=["owner", "-created_at", "-id"], name="memory_owner_created"),
            # The context's selection: the user's own first, then the newest.
            models.Index(
                fields=["owner", "-user_written", "-updated_at"], name="memory_owner_context"
            ),
            models.Index(fields=["source_conversation"], name="memory_source_conversation"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.content}"


class ExtractionMark(models.Model):
    """How far extraction has read a conversation: messages with a higher seq are new."""

    conversation = models.OneToOneField(
        "conversations.Conversation",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="memory_mark",
    )
    seq = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.conversation_id} read to {self.seq}"
