"""POST /api/v1/batch/ — the offline queue (API.md, "Live updates and the offline queue").

A phone queues its writes while offline and sends them in one request; after a lost
answer it sends the whole queue again. So each operation:

- is answered exactly as its own endpoint would answer it (the same function in
  ``answers.py``: the same input serializer, service, status and body; errors as the
  API's exception handler shapes them);
- runs in its own transaction, in order: one that fails is rolled back alone and the
  next ones still run;
- is idempotent: creates by their ``client_id`` (conversations and messages), updates set
  the same values again, and deleting a conversation this user already deleted answers
  204 again (``DeletedConversation`` remembers it), where an id that was never theirs
  stays a 404. A delete moves the conversation to the trash, as DELETE does; unlike
  DELETE, its replay leaves one already in the trash there (204) instead of deleting it
  for good, so sending a queue twice never destroys what the user can still restore.

Only the envelope is all-or-nothing: a body that is not an object, ``operations`` missing,
not a list, longer than NUMINA_BATCH_MAX_OPERATIONS, or holding an item that is not an
object or names an unknown ``op`` is a 400 and nothing is applied.

Cost: every operation is a fixed number of queries, so a batch is linear in its
operations; its body is bounded like any other by NUMINA_MAX_REQUEST_BYTES, within which
100 operations of the largest message (100,000 ASCII characters) fit. For the user rate
a batch weighs its number of operations (``numina.throttling.OperationsRateThrottle``), so
batching buys no more writes per minute than single requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from numina import errors, throttling

from ..selectors import offline_queue
from . import answers
from . import serializers as s
from .fields import CountFirstListField

# --- the operations ---------------------------------------------------------------------


class ConversationTarget(serializers.Serializer):
    conversation_id = serializers.UUIDField()


class MessageTarget(serializers.Serializer):
    """Where an ``add_message`` goes: a conversation by its id, or by the client_id the
    user created it with (an offline create, possibly earlier in the same batch)."""

    conversation_id = serializers.UUIDField(required=False)
    conversation_client_id = serializers.UUIDField(required=False)

    def validate(self, attrs: dict) -> dict:
        if ("conversation_id" in attrs) == ("conversation_client_id" in attrs):
            raise serializers.ValidationError(
                {"conversation_id": ["Give either conversation_id or conversation_client_id."]}
            )
        return attrs


def _create_conversation(*, user, operation: Mapping[str, Any]) -> Response:
    return answers.create_conversation(user=user, data=operation)


def _add_message(*, user, operation: Mapping[str, Any]) -> Response:
    target = answers.valid(MessageTarget, operation)
    conversation_id = target.get("conversation_id") or offline_queue.conversation_id_made_with(
        user=user, client_id=target["conversation_client_id"]
    )
    return answers.add_message(user=user, conversation_id=conversation_id, data=operation)


def _update_conversation(*, user, operation: Mapping[str, Any]) -> Response:
    target = answers.valid(ConversationTarget, operation)
    return answers.update_conversation(
        user=user, conversation_id=target["conversation_id"], data=operation
    )


def _delete_conversation(*, user, operation: Mapping[str, Any]) -> Response:
    conversation_id: uuid.UUID = answers.valid(ConversationTarget, operation)["conversation_id"]
    try:
        return answers.trash_conversation(user=user, conversation_id=conversation_id)
    except ObjectDoesNotExist:
        # The replay of a delete that already happened: the same answer as the first time.
        if offline_queue.deleted_by(user=user, conversation_id=conversation_id):
            return Response(status=status.HTTP_204_NO_CONTENT)
        raise


OPERATIONS: dict[str, Callable[..., Response]] = {
    "create_conversation": _create_conversation,
    "add_message": _add_message,
    "update_conversation": _update_conversation,
    "delete_conversation": _delete_conversation,
}

# What an operation's own endpoint may answer with, as the API's exception handler shapes
# it; anything else is a bug and stays a 500 (the operations before it are committed, and
# the replay that follows is harmless).
_ANSWERED_ERRORS = (
    APIException,
    DjangoValidationError,
    ObjectDoesNotExist,
    Http404,
    DjangoPermissionDenied,
)


def run_operation(operation: Mapping[str, Any], *, user, context: dict) -> dict:
    """One operation, in its own transaction: ``{"status", "body"}`` as its endpoint
    would answer."""
    try:
        with transaction.atomic():
            response = OPERATIONS[operation["op"]](user=user, operation=operation)
    except _ANSWERED_ERRORS as exc:
        response = errors.exception_handler(exc, context)
    return {"status": response.status_code, "body": response.data}


# --- the envelope -----------------------------------------------------------------------


class OperationField(serializers.DictField):
    """One queued operation: an object whose ``op`` names one of OPERATIONS. Its other
    fields are the operation's own, checked when it runs."""

    def to_internal_value(self, data: Any) -> dict:
        operation = super().to_internal_value(data)
        op = operation.get("op")
        if op is None:
            raise serializers.ValidationError({"op": ["This field is required."]})
        if not isinstance(op, str) or op not in OPERATIONS:
            raise serializers.ValidationError({"op": [f"Must be one of: {', '.join(OPERATIONS)}."]})
        return operation


class OperationsField(CountFirstListField):
    child = OperationField()
    limit_setting = "NUMINA_BATCH_MAX_OPERATIONS"
    items_name = "operations"


class BatchInput(serializers.Serializer):
    operations = OperationsField()


def operation_count(data: Any) -> int:
    """How many operations a batch body holds (0 when it is malformed), capped at the
    bound: what the user rate counts it as."""
    operations = data.get("operations") if isinstance(data, Mapping) else None
    if not isinstance(operations, list):
        return 0
    return min(len(operations), settings.NUMINA_BATCH_MAX_OPERATIONS)


# --- the schema -------------------------------------------------------------------------


def _op_field(name: str) -> serializers.CharField:
    # A class per operation (DRF deep-copies field instances, and an annotation on an
    # instance would be lost): the schema names each operation's one ``op`` inline,
    # rather than as four colliding "OpEnum" components.
    field_class = extend_schema_field({"type": "string", "enum": [name]})(
        type(f"{name.title().replace('_', '')}OpField", (serializers.CharField,), {})
    )
    return field_class()


class CreateConversationOperation(s.ConversationCreateInput):
    op = _op_field("create_conversation")


class AddMessageOperation(s.MessageCreateInput):
    op = _op_field("add_message")
    conversation_id = serializers.UUIDField(
        required=False, help_text="The conversation; or else conversation_client_id."
    )
    conversation_client_id = serializers.UUIDField(
        required=False,
        help_text=(
            "The client_id of a conversation this user created, possibly earlier in the same batch."
        ),
    )


class UpdateConversationOperation(s.ConversationUpdateInput):
    op = _op_field("update_conversation")
    conversation_id = serializers.UUIDField()


class DeleteConversationOperation(serializers.Serializer):
    op = _op_field("delete_conversation")
    conversation_id = serializers.UUIDField()


_OPERATION_SCHEMA = PolymorphicProxySerializer(
    component_name="BatchOperation",
    serializers={
        "create_conversation": CreateConversationOperation,
        "add_message": AddMessageOperation,
        "update_conversation": UpdateConversationOperation,
        "delete_conversation": DeleteConversationOperation,
    },
    resource_type_field_name="op",
)


class BatchSerializer(serializers.Serializer):
    operations = serializers.ListField(
        child=_OPERATION_SCHEMA,
        max_length=settings.NUMINA_BATCH_MAX_OPERATIONS,
        help_text="Applied in order, each on its own; at most NUMINA_BATCH_MAX_OPERATIONS (100).",
    )


class BatchResultSerializer(serializers.Serializer):
    status = serializers.IntegerField(
        help_text="What the operation's own endpoint would answer: 200, 201, 204, 400, 404."
    )
    body = serializers.JSONField(
        allow_null=True,
        help_text=(
            "That endpoint's body: the conversation or message; an error's field map or "
            "{detail, code}; null for a 204."
        ),
    )


class BatchResponseSerializer(serializers.Serializer):
    results = BatchResultSerializer(many=True)


# --- the view ---------------------------------------------------------------------------


class BatchView(APIView):
    throttle_classes = [throttling.OperationsRateThrottle]

    def throttle_weight(self, request: Request) -> int:
        """What this request counts as for the user rate: one per operation (at least
        one). ``ParseError`` for a body that is not JSON (the throttle counts it as one)."""
        return max(1, operation_count(request.data))

    @extend_schema(
        request=BatchSerializer,
        responses={
            200: OpenApiResponse(
                BatchResponseSerializer, description="One result per operation, in order."
            ),
            400: OpenApiResponse(
                description=(
                    "The envelope is wrong (not an object, operations missing or not a list, "
                    "too many, an item not an object, an unknown op): nothing applied."
                )
            ),
        },
    )
    def post(self, request: Request) -> Response:
        operations = answers.valid(BatchInput, request.data)["operations"]
        context = {"view": self, "request": request}
        return Response(
            {
                "results": [
                    run_operation(operation, user=request.user, context=context)
                    for operation in operations
                ]
            }
        )
