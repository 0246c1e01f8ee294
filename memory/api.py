"""The memory endpoints of API.md ("Memory across conversations"): the list, add, edit,
delete, and the switch in /api/v1/me/settings/. Thin: a serializer checks the shape, a
service (memory/services.py) holds every rule, a selector reads."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import signed_in_user
from conversations.api.views import BAD_REQUEST, NuminaCursorPagination, _page_size_parameter

from . import selectors, services
from .models import CONTENT_MAX_LENGTH, Kind, MemoryItem

NOT_FOUND = OpenApiResponse(
    description="No such memory item for this user (also: not a UUID, or another user's)."
)


class MemoryItemSerializer(serializers.ModelSerializer):
    source_conversation_id = serializers.UUIDField(allow_null=True, read_only=True)

    class Meta:
        model = MemoryItem
        fields = ["id", "kind", "content", "source_conversation_id", "created_at", "updated_at"]
        read_only_fields = fields


class TextField(serializers.CharField):
    """Text only: DRF's CharField would store the number 5 as "5"."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MemoryItemInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    content = TextField(max_length=CONTENT_MAX_LENGTH)


class MemoryItemUpdateInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices, required=False)
    content = TextField(max_length=CONTENT_MAX_LENGTH, required=False)


class SettingsSerializer(serializers.Serializer):
    memory_enabled = serializers.BooleanField()


class MemoryCursorPagination(NuminaCursorPagination):
    # The index memory_owner_created's order (memory/selectors.py).
    ordering = selectors.ORDERING


class MemoryListView(GenericAPIView):
    serializer_class = MemoryItemSerializer
    pagination_class = MemoryCursorPagination

    @extend_schema(
        parameters=[_page_size_parameter()],
        responses={200: MemoryItemSerializer(many=True), 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.memory_items(user=request.user))
        return self.get_paginated_response(MemoryItemSerializer(page, many=True).data)

    @extend_schema(
        request=MemoryItemInput,
        responses={
            201: OpenApiResponse(
                MemoryItemSerializer,
                description="The user's own item: extraction never replaces it.",
            ),
            400: OpenApiResponse(
                description="Empty or over-long content, an unknown kind, or the user "
                "already has NUMINA_MEMORY_MAX_ITEMS items."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = MemoryItemInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.create_item(user=signed_in_user(request), **data.validated_data)
        return Response(MemoryItemSerializer(item).data, status=status.HTTP_201_CREATED)


class MemoryDetailView(APIView):
    @extend_schema(
        request=MemoryItemUpdateInput,
        responses={200: MemoryItemSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def patch(self, request: Request, item_id: uuid.UUID) -> Response:
        data = MemoryItemUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.update_item(
            user=signed_in_user(request), item_id=item_id, **data.validated_data
        )
        return Response(MemoryItemSerializer(item).data)

    @extend_schema(
        responses={
            204: OpenApiResponse(description="Gone, and from the next context at once."),
            404: NOT_FOUND,
        }
    )
    def delete(self, request: Request, item_id: uuid.UUID) -> Response:
        services.delete_item(user=signed_in_user(request), item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SettingsView(APIView):
    @extend_schema(responses={200: SettingsSerializer})
    def get(self, request: Request) -> Response:
        return Response(SettingsSerializer(request.user).data)

    @extend_schema(
        request=SettingsSerializer,
        responses={
            200: OpenApiResponse(
                SettingsSerializer, description="Memory off: nothing extracted, nothing sent."
            ),
            400: BAD_REQUEST,
        },
    )
    def patch(self, request: Request) -> Response:
        data = SettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.set_memory_enabled(
            user=signed_in_user(request), enabled=data.validated_data["memory_enabled"]
        )
        return Response(SettingsSerializer(user).data)
