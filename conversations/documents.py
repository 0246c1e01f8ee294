"""The one-conversation JSON export document, as DRF serializers.

The API's import reads it (api/serializers.py re-exports these), and so does the import
of a Numina archive (sources/numina.py), whose ``conversations/<id>.json`` entries are
exactly this document: one reading of it, wherever it comes from.
"""

from __future__ import annotations

from rest_framework import serializers

from . import validation
from .models import Role


def _text(**kwargs) -> serializers.CharField:
    # trim and blank checks belong to validation.py, so the API and the UI say the same.
    return serializers.CharField(trim_whitespace=False, allow_blank=True, **kwargs)


class ExportedMessagesSerializer(serializers.ListSerializer):
    def to_internal_value(self, data):
        # The count first: 10,000 messages over the limit must not each be cleaned first.
        validation.check_import_size(messages=data)
        return super().to_internal_value(data)


class ExportedMessageSerializer(serializers.Serializer):
    class Meta:
        list_serializer_class = ExportedMessagesSerializer

    # The tree (see services.import_document): ``parent_id`` names another message's
    # ``id`` in the same document (null: a first message); without it, a message follows
    # the one before it, as in the exports made before branches.
    id = serializers.UUIDField(required=False)
    parent_id = serializers.UUIDField(required=False, allow_null=True)
    seq = serializers.IntegerField(required=False, min_value=1)
    role = serializers.ChoiceField(choices=Role.choices)
    content = _text()
    attachments = serializers.ListField(child=_text(), required=False, default=list)
    metadata = serializers.DictField(required=False, default=dict)
    client_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    created_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ExportedConversationSerializer(serializers.Serializer):
    title = _text(required=False, default="")
    title_set_by_user = serializers.BooleanField(required=False, default=False)
    summary = _text(required=False, default="")
    summary_covers_seq = serializers.IntegerField(required=False, min_value=0, default=0)
    is_pinned = serializers.BooleanField(required=False, default=False)
    tags = serializers.ListField(child=_text(), required=False, default=list)
    # Absent in exports made before instructions existed: none.
    instructions = _text(required=False, default="")
    created_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    # The ``id`` of the message whose branch is shown; absent or null: the last message.
    current_message_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class ExportSerializer(serializers.Serializer):
    """The JSON export document; import takes the same document back."""

    format = serializers.ChoiceField(choices=["numina.conversation"])
    version = serializers.ChoiceField(choices=[1])
    exported_at = serializers.DateTimeField(required=False)
    conversation = ExportedConversationSerializer()
    messages = ExportedMessageSerializer(many=True)
