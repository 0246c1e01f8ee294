"""Shapes of the API: output serializers match API.md's objects; input serializers only
check types. Limits are enforced once, by the services (conversations/validation.py).

Retrieve and list answer with plain dicts keyed by these output serializers' field
lists (api/views.py, off their hot path); the schema still documents them with these.
Their query serializers live beside those views."""

import uuid
from datetime import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import selectors
from ..documents import ExportSerializer  # noqa: F401  (the views name it s.ExportSerializer)
from ..models import Conversation, Message, Role
from ..selectors import trash
from ..services import NO_PARENT


class AttachedFileSerializer(serializers.Serializer):
    """An uploaded file as a message lists it (schema only: the answer is a plain dict)."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()


class MessageSerializer(serializers.ModelSerializer):
    """A message; every caller first gives it its ``sibling_ids`` in one query for the
    whole page or answer (``selectors.attach_sibling_ids``): a forgotten one is an error
    here, never a query per message."""

    conversation_id = serializers.UUIDField(read_only=True)
    attachments = serializers.ListField(child=serializers.CharField(), read_only=True)
    metadata = serializers.DictField(read_only=True)
    parent_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="The message this one follows; null for a first message (and its versions).",
    )
    sibling_ids = serializers.SerializerMethodField(
        help_text=(
            "The versions at this point of the conversation (messages with the same "
            "parent), in seq order, itself included."
        )
    )
    files = serializers.SerializerMethodField(
        help_text="The uploaded files its attachments name, in order (set with sibling_ids)."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "seq",
            "role",
            "content",
            "attachments",
            "metadata",
            "client_id",
            "created_at",
            "parent_id",
            "sibling_ids",
            "files",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_sibling_ids(self, message: Message) -> list[uuid.UUID]:
        return message.sibling_ids  # type: ignore[attr-defined]  # set by attach_sibling_ids

    @extend_schema_field(AttachedFileSerializer(many=True))
    def get_files(self, message: Message) -> list[dict]:
        return message.files  # type: ignore[attr-defined]  # set by attach_sibling_ids


class ConversationSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    current_message_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="The last message of the branch being shown; null with no messages.",
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "summary",
            "is_archived",
            "is_pinned",
            "tags",
            "message_count",
            "preview",
            "last_activity_at",
            "created_at",
            "updated_at",
            "current_message_id",
            "instructions",
            "client_id",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_tags(self, conversation: Conversation) -> list[str]:
        return conversation.tag_list


class ConversationDetailSerializer(ConversationSerializer):
    """A conversation with its newest messages, oldest first (the view sets ``recent``)."""

    messages = MessageSerializer(many=True, read_only=True, source="recent")

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields


class TrashedConversationSerializer(ConversationSerializer):
    """A conversation in the trash: when it went there and when the trash is emptied of it."""

    trashed_at = serializers.DateTimeField(read_only=True)
    purge_at = serializers.SerializerMethodField(
        help_text="When it is deleted for good: trashed_at + NUMINA_TRASH_DAYS."
    )

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "trashed_at", "purge_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.DateTimeField())
    def get_purge_at(self, conversation: Conversation) -> datetime | None:
        return trash.purge_at(conversation)


# --- input --------------------------------------------------------------------------------


def _text(**kwargs) -> serializers.CharField:
    # trim and blank checks belong to validation.py, so the API and the UI say the same.
    return serializers.CharField(trim_whitespace=False, allow_blank=True, **kwargs)


class ConversationCreateInput(serializers.Serializer):
    title = _text(required=False, help_text="1 to 200 characters after trimming.")
    tags = serializers.ListField(
        child=_text(), required=False, help_text="At most 20 tags of 1 to 50 characters."
    )
    is_pinned = serializers.BooleanField(required=False, default=False)
    instructions = _text(
        required=False,
        default="",
        help_text="Standing instructions for this chat: at most 4,000 characters.",
    )
    client_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "Chosen by the client (an offline create): sent again, it answers 200 and the "
            "conversation made with it, nothing added."
        ),
    )


class ConversationUpdateInput(serializers.Serializer):
    title = _text(
        required=False, help_text="1 to 200 characters after trimming; becomes the user's title."
    )
    is_archived = serializers.BooleanField(required=False)
    is_pinned = serializers.BooleanField(required=False)
    tags = serializers.ListField(
        child=_text(), required=False, help_text="Replaces the tags; at most 20."
    )
    instructions = _text(
        required=False,
        help_text=(
            "Standing instructions, sent with every reply in this chat: at most 4,000 "
            "characters; empty clears them."
        ),
    )
    current_message_id = serializers.UUIDField(
        required=False,
        help_text=(
            "Any message of this conversation: the branch shown becomes the path to it "
            "and, below it, always the newest version, down to a leaf."
        ),
    )


class ParentIdField(serializers.UUIDField):
    """``parent_id`` of a new message, where absent and null differ: absent, after the
    current message (the field is left out of the validated data); null, no parent, a
    new version of the first message (``services.NO_PARENT``)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            required=False,
            allow_null=True,
            help_text=(
                "A message of this conversation to follow instead of the current message "
                "(editing message M is sending its new text with parent_id = M's parent). "
                "null: a new first message, a version of the conversation's first one. "
                "Absent: after the current message."
            ),
            **kwargs,
        )

    def validate_empty_values(self, data):
        if data is None:
            return True, NO_PARENT
        return super().validate_empty_values(data)


class MessageCreateInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    content = _text(help_text="1 to 100,000 characters, not only white space.")
    attachments = serializers.ListField(
        child=_text(), required=False, default=list, help_text="At most 20: URLs or opaque ids."
    )
    metadata = serializers.DictField(
        required=False, default=dict, help_text="A JSON object of at most 16 KB."
    )
    client_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    parent_id = ParentIdField()


class DeleteQuery(serializers.Serializer):
    permanent = serializers.BooleanField(
        required=False,
        default=False,
        help_text=(
            "true: gone for good at once, with its messages; otherwise it goes to the trash."
        ),
    )


class MessageListQuery(serializers.Serializer):
    after_seq = serializers.IntegerField(
        required=False, min_value=0, default=0, max_value=2**31 - 1
    )
    thread = serializers.ChoiceField(
        choices=[selectors.THREAD_ALL, selectors.THREAD_CURRENT],
        required=False,
        default=selectors.THREAD_ALL,
        help_text="all: every branch; current: only the branch being shown.",
    )


class ExportQuery(serializers.Serializer):
    format = serializers.ChoiceField(choices=["json", "markdown"], required=False, default="json")


class SearchQueryInput(serializers.Serializer):
    q = serializers.CharField(trim_whitespace=False, allow_blank=True)
    archived = serializers.ChoiceField(
        choices=["false", "true", "all"], required=False, default="all"
    )
    conversation_id = serializers.UUIDField(
        required=False,
        help_text="Only this conversation's messages; one that is not the user's answers 404.",
    )
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    tag = serializers.CharField(
        required=False, max_length=200, help_text="Only conversations carrying this tag."
    )
    after = serializers.DateTimeField(
        required=False, help_text="Messages created at or after this time (ISO 8601)."
    )
    before = serializers.DateTimeField(
        required=False, help_text="Messages created before this time (ISO 8601)."
    )

    def validate(self, attrs: dict) -> dict:
        after, before = attrs.get("after"), attrs.get("before")
        if after is not None and before is not None and after >= before:
            raise serializers.ValidationError({"before": ["Must be later than after."]})
        return attrs


class SearchResultSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    conversation_title = serializers.CharField(source="conversation.title")
    message_id = serializers.UUIDField(source="id")
    seq = serializers.IntegerField()
    role = serializers.ChoiceField(choices=Role.choices)
    snippet = serializers.CharField(
        help_text="HTML-escaped text around the match, the matched words inside <mark>…</mark>."
    )
    created_at = serializers.DateTimeField()


# What sync may carry besides conversations and deletions (API.md).
SYNC_INCLUDE_MESSAGES = "messages"


class SyncQuery(serializers.Serializer):
    since = serializers.CharField(required=False, max_length=100)
    page_size = serializers.IntegerField(required=False, min_value=1)
    include = serializers.ChoiceField(choices=[SYNC_INCLUDE_MESSAGES], required=False)


class SyncSerializer(serializers.Serializer):
    conversations = ConversationSerializer(
        many=True,
        help_text=(
            "The conversations changed in this page, in the order of their changes. With "
            "include=messages, also the conversation of each of the page's messages that "
            "the page would not otherwise carry, in its current state: it comes again at "
            "its own place in the stream, so apply conversations by id, the later one "
            "winning."
        ),
    )
    deleted = serializers.ListField(child=serializers.UUIDField())
    next_since = serializers.CharField()
    has_more = serializers.BooleanField()
    # Not required: present only with include=messages, so the answer without it stays
    # what it was.
    messages = MessageSerializer(
        many=True,
        required=False,
        help_text=(
            "Only with include=messages: the messages stored since `since`, of any "
            "conversation, in the order they were stored; each exactly once across pages."
        ),
    )


# --- export / import -------------------------------------------------------------------


# The JSON export document: conversations/documents.py (the API and a Numina archive
# read the same one).


# --- import of whole exports (services.bulk_import) ------------------------------------


class ImportUploadInput(serializers.Serializer):
    file = serializers.FileField(
        help_text=(
            "A Numina archive (ZIP), ChatGPT's or Claude.ai's conversations.json (or their "
            "export ZIP), or an Open WebUI chat export; at most NUMINA_IMPORT_MAX_BYTES."
        )
    )


class ImportErrorSerializer(serializers.Serializer):
    item = serializers.CharField(help_text="source:id of the conversation (or `file`).")
    detail = serializers.CharField()


class MonthStatsSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM (UTC).")
    messages = serializers.IntegerField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()


class AccountStatsSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    by_month = MonthStatsSerializer(many=True, help_text="Months with activity, oldest first.")


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    # A field named like Serializer.errors: DRF's metaclass takes declared fields off
    # the class, so the property stays; mypy sees only the name.
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]


class ImportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["pending", "running", "done", "failed"])
    filename = serializers.CharField()
    size = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Conversations in the file (0 until read).")
    processed = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField()
    # A field named like Serializer.errors: DRF's metaclass takes declared fields off
    # the class, so the property stays; mypy sees only the name.
    errors = ImportErrorSerializer(many=True)  # type: ignore[assignment]
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class TagCountSerializer(serializers.Serializer):
    name = serializers.CharField()
    conversations = serializers.IntegerField(
        help_text="The user's conversations carrying the tag, archived ones too, not trashed."
    )
