"""The writes of the conversation API, each as the answer its endpoint gives: the single
endpoints (views.py) and the offline queue (batch.py) call the same function, so an
operation in a batch validates, decides and answers exactly as its own request would.

Each takes the acting user and the request body as parsed JSON, and returns the
``Response`` or raises what the API's exception handler turns into one (a field map,
``{detail, code}``, a 404 for anything not the user's).
"""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework import serializers, status
from rest_framework.response import Response

from .. import access, selectors, services
from ..selectors import branches
from . import serializers as s


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict:
    """``data`` read by an input serializer; DRF's ``ValidationError`` (a 400) if it
    does not fit."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def create_conversation(*, user, data: Any) -> Response:
    """POST /conversations/: 201 and the new conversation; 200 and the stored one for a
    client_id the user already used."""
    body = valid(s.ConversationCreateInput, data)
    added = services.add_conversation(user=user, **body)
    conversation = selectors.get_conversation(user=user, conversation_id=added.conversation.id)
    return Response(
        s.ConversationSerializer(conversation).data,
        status=status.HTTP_201_CREATED if added.created else status.HTTP_200_OK,
    )


def update_conversation(*, user, conversation_id: uuid.UUID, data: Any) -> Response:
    """PATCH /conversations/{id}/."""
    # Ownership first: another user's id is a 404 even when the body is invalid.
    access.owned_conversation_id(user=user, conversation_id=conversation_id)
    body = valid(s.ConversationUpdateInput, data)
    services.update_conversation(user=user, conversation_id=conversation_id, **body)
    conversation = selectors.get_conversation(user=user, conversation_id=conversation_id)
    return Response(s.ConversationSerializer(conversation).data)


def delete_conversation(*, user, conversation_id: uuid.UUID, permanent: bool = False) -> Response:
    """DELETE /conversations/{id}/: into the trash; for good with ``permanent`` or when it
    is in the trash already."""
    services.delete_conversation(user=user, conversation_id=conversation_id, permanent=permanent)
    return Response(status=status.HTTP_204_NO_CONTENT)


def trash_conversation(*, user, conversation_id: uuid.UUID) -> Response:
    """The offline queue's ``delete_conversation``: DELETE without ``permanent``, for a
    conversation not yet in the trash (a replay must never delete for good what the
    first run put in the trash)."""
    services.trash_conversation(user=user, conversation_id=conversation_id)
    return Response(status=status.HTTP_204_NO_CONTENT)


def add_message(*, user, conversation_id: uuid.UUID, data: Any) -> Response:
    """POST /conversations/{id}/messages/: 201 and the new message; 200 and the stored
    one for a client_id already stored in that conversation."""
    # Ownership first: another user's id is a 404 even when the body is invalid.
    access.owned_conversation_id(user=user, conversation_id=conversation_id)
    body = valid(s.MessageCreateInput, data)
    added = services.add_message(user=user, conversation_id=conversation_id, **body)
    branches.attach_sibling_ids(messages=[added.message], conversation_id=conversation_id)
    return Response(
        s.MessageSerializer(added.message).data,
        status=status.HTTP_201_CREATED if added.created else status.HTTP_200_OK,
    )
