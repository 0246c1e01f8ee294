"""The conversation API of API.md: each view validates input, calls a service or a
selector, and shapes the answer. No rules and no queries of their own."""

import base64
import binascii

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import cache, selectors, services, streams, validation
from . import serializers as s
from .chat_views import limit_response
from .pagination import MessageCursorPagination, SearchCursorPagination

_ARCHIVED = {"false": False, "true": True, "all": None}
NOT_FOUND = OpenApiResponse(
    description="No such conversation for this user (also: not a UUID, or another user's)."
)
BAD_REQUEST = OpenApiResponse(
    description="Invalid input: a field → messages map, or {detail, code}."
)
ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)


def _query(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _body(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _with_cache_header(response: Response, was_cached: bool) -> Response:
    response["X-Cache"] = "hit" if was_cached else "miss"
    return response


def _page_size_parameter() -> OpenApiParameter:
    return OpenApiParameter("page_size", int, description="Default 20, at most 100.")


class ConversationListView(GenericAPIView):
    serializer_class = s.ConversationSerializer

    @extend_schema(
        parameters=[s.ConversationListQuery, _page_size_parameter()],
        responses={200: s.ConversationSerializer(many=True), 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        query = _query(s.ConversationListQuery, request)

        def build() -> tuple[int, dict]:
            version = selectors.change_position(user=request.user)
            conversations = selectors.list_conversations(
                user=request.user,
                archived=_ARCHIVED[query["archived"]],
                pinned=query["pinned"],
                tag=query.get("tag"),
                query=query.get("q"),
            )
            page = self.paginate_queryset(conversations)
            data = s.ConversationSerializer(page, many=True).data
            return version, self.get_paginated_response(data).data

        # Only the first page of the default list is cached: it is what opening the app
        # asks for, and its key depends on nothing but the user (and the host in links).
        if set(request.query_params) - {"archived"} or query["archived"] != "false":
            return Response(build()[1])
        body, was_cached = cache.cached(
            kind=cache.LIST,
            scope=cache.list_scope(owner_id=request.user.pk),
            variant=request.build_absolute_uri("/"),
            build=build,
        )
        return _with_cache_header(Response(body), was_cached)

    @extend_schema(
        request=s.ConversationCreateInput,
        responses={201: s.ConversationSerializer, 400: BAD_REQUEST},
    )
    def post(self, request: Request) -> Response:
        data = _body(s.ConversationCreateInput, request)
        conversation = services.create_conversation(user=request.user, **data)
        conversation = selectors.get_conversation(
            user=request.user, conversation_id=conversation.id
        )
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    @extend_schema(
        parameters=[ID, s.RetrieveQuery],
        responses={200: s.ConversationDetailSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        query = _query(s.RetrieveQuery, request)
        count = query.get("messages", settings.NUMINA_RETRIEVE_MESSAGES)
        try:
            count = validation.clean_message_window(count)
        except DjangoValidationError as exc:
            raise ValidationError({"messages": exc.messages}) from None

        def build() -> tuple[int, dict]:
            conversation = selectors.get_conversation(
                user=request.user, conversation_id=conversation_id
            )
            conversation.recent = selectors.recent_messages(conversation=conversation, limit=count)
            return conversation.change_seq, s.ConversationDetailSerializer(conversation).data

        conversation_uuid = services.as_uuid(conversation_id)
        # Only the default window is cached (what opening a chat asks for).
        if "messages" in request.query_params or conversation_uuid is None:
            return Response(build()[1])
        body, was_cached = cache.cached(
            kind=cache.CONVERSATION,
            scope=cache.conversation_scope(
                owner_id=request.user.pk, conversation_id=conversation_uuid
            ),
            build=build,
        )
        return _with_cache_header(Response(body), was_cached)

    @extend_schema(
        parameters=[ID],
        request=s.ConversationUpdateInput,
        responses={200: s.ConversationSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def patch(self, request: Request, conversation_id: str) -> Response:
        # Ownership first: another user's id is a 404 even when the body is invalid.
        selectors.ensure_owned(user=request.user, conversation_id=conversation_id)
        data = _body(s.ConversationUpdateInput, request)
        services.update_conversation(user=request.user, conversation_id=conversation_id, **data)
        conversation = selectors.get_conversation(
            user=request.user, conversation_id=conversation_id
        )
        return Response(s.ConversationSerializer(conversation).data)

    @extend_schema(parameters=[ID], responses={204: None, 404: NOT_FOUND})
    def delete(self, request: Request, conversation_id: str) -> Response:
        services.delete_conversation(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListView(GenericAPIView):
    serializer_class = s.MessageSerializer
    pagination_class = MessageCursorPagination

    @extend_schema(
        parameters=[ID, s.MessageListQuery, _page_size_parameter()],
        responses={200: s.MessageSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        query = _query(s.MessageListQuery, request)
        messages = selectors.list_messages(
            user=request.user, conversation_id=conversation_id, after_seq=query["after_seq"]
        )
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(s.MessageSerializer(page, many=True).data)

    @extend_schema(
        parameters=[ID],
        request=s.MessageCreateInput,
        responses={
            201: s.MessageSerializer,
            200: OpenApiResponse(
                s.MessageSerializer, description="client_id already stored: that message."
            ),
            400: BAD_REQUEST,
            404: NOT_FOUND,
        },
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        selectors.ensure_owned(user=request.user, conversation_id=conversation_id)
        data = _body(s.MessageCreateInput, request)
        added = services.add_message(user=request.user, conversation_id=conversation_id, **data)
        return Response(
            s.MessageSerializer(added.message).data,
            status=status.HTTP_201_CREATED if added.created else status.HTTP_200_OK,
        )


class ExportView(APIView):
    @extend_schema(
        parameters=[ID, s.ExportQuery],
        responses={
            (200, "application/json"): OpenApiResponse(
                s.ExportSerializer, description="A JSON download."
            ),
            (200, "text/markdown"): OpenApiResponse(
                OpenApiTypes.STR, description="A Markdown download."
            ),
            400: BAD_REQUEST,
            404: NOT_FOUND,
            429: OpenApiResponse(description="Too many streams open at once (too_many_streams)."),
        },
    )
    def get(self, request: Request, conversation_id: str) -> StreamingHttpResponse:
        query = _query(s.ExportQuery, request)
        conversation = selectors.get_conversation(
            user=request.user, conversation_id=conversation_id
        )
        try:
            slot = streams.acquire_stream_slot(user=request.user)
        except streams.TooManyStreams as exc:
            return limit_response(exc)
        messages = selectors.export_messages(conversation=conversation)
        if query["format"] == "markdown":
            chunks, content_type, extension = (
                services.export_markdown(conversation=conversation, messages=messages),
                "text/markdown; charset=utf-8",
                "md",
            )
        else:
            chunks, content_type, extension = (
                services.export_json(conversation=conversation, messages=messages),
                "application/json",
                "json",
            )
        response = StreamingHttpResponse(
            streams.HeldStream(chunks, slot=slot), content_type=content_type
        )
        filename = services.export_filename(conversation=conversation, extension=extension)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class ImportView(APIView):
    @extend_schema(
        request=s.ExportSerializer, responses={201: s.ConversationSerializer, 400: BAD_REQUEST}
    )
    def post(self, request: Request) -> Response:
        document = _body(s.ExportSerializer, request)
        conversation = services.import_conversation(
            user=request.user,
            **document["conversation"],
            messages=[
                services.NewMessage(**{k: v for k, v in m.items() if k != "seq"})
                for m in sorted(document["messages"], key=lambda m: m.get("seq") or 0)
            ],
        )
        conversation = selectors.get_conversation(
            user=request.user, conversation_id=conversation.id
        )
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class SearchView(GenericAPIView):
    serializer_class = s.SearchResultSerializer
    pagination_class = SearchCursorPagination

    @extend_schema(
        parameters=[s.SearchQueryInput, _page_size_parameter()],
        responses={200: s.SearchResultSerializer(many=True), 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        query = _query(s.SearchQueryInput, request)
        results = selectors.search_messages(
            user=request.user, query=query["q"], archived=_ARCHIVED[query["archived"]]
        )
        page = self.paginate_queryset(results)
        return self.get_paginated_response(s.SearchResultSerializer(page, many=True).data)


def _encode_since(position: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{position}".encode()).decode().rstrip("=")


def _decode_since(token: str | None) -> int:
    if not token:
        return 0
    try:
        version, _, position = (
            base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition(":")
        )
        if version != "v1":
            raise ValueError(token)
        # Change numbers are PostgreSQL bigints.
        return validation.parse_count(position, maximum=2**63 - 1)
    except (ValueError, UnicodeDecodeError, binascii.Error, DjangoValidationError):
        raise ValidationError(
            {"since": ["Not a sync token from this server; start without one."]}
        ) from None


class SyncView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since",
                str,
                description="next_since of the previous answer; absent: from the beginning.",
            ),
            OpenApiParameter(
                "page_size", int, description="Changes per answer: default 100, at most 100."
            ),
        ],
        responses={200: s.SyncSerializer, 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        query = _query(s.SyncQuery, request)
        limit = min(
            query.get("page_size", settings.NUMINA_SYNC_PAGE_SIZE), settings.NUMINA_MAX_PAGE_SIZE
        )
        page = selectors.sync_changes(
            user=request.user, since=_decode_since(query.get("since")), limit=limit
        )
        return Response(
            s.SyncSerializer(
                {
                    "conversations": page.conversations,
                    "deleted": page.deleted,
                    "next_since": _encode_since(page.next_since),
                    "has_more": page.has_more,
                }
            ).data
        )
