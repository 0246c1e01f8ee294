"""The conversation API of API.md: each view validates input, calls a service or a
selector, and shapes the answer. No rules, no queries and no cache policy of their own
(a cached read's policy sits beside its selector). Path ids arrive as UUIDs (the URLs'
``<uuid:…>`` converter); any other path answers the API's JSON 404."""

import uuid

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import access, archive, cursors, exports, selectors, services, streams
from ..selectors import stats
from ..services import bulk_import
from . import answers
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


def _query(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _body(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _cacheable_response(read: selectors.CacheableRead) -> Response:
    response = Response(read.value)
    if read.cached is not None:
        response["X-Cache"] = "hit" if read.cached else "miss"
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

        def shape(conversations) -> dict:
            page = self.paginate_queryset(conversations)
            data = s.ConversationSerializer(page, many=True).data
            return self.get_paginated_response(data).data

        return _cacheable_response(
            selectors.conversation_list_page(
                user=request.user,
                archived=_ARCHIVED[query["archived"]],
                pinned=query["pinned"],
                tag=query.get("tag"),
                query=query.get("q"),
                parameters=request.query_params.keys(),
                variant=request.build_absolute_uri("/"),
                shape=shape,
            )
        )

    @extend_schema(
        request=s.ConversationCreateInput,
        responses={
            201: s.ConversationSerializer,
            200: OpenApiResponse(
                s.ConversationSerializer,
                description="client_id already used by this user: that conversation.",
            ),
            400: BAD_REQUEST,
            404: OpenApiResponse(
                description="client_id of a conversation this user has deleted since."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        return answers.create_conversation(user=request.user, data=request.data)


class ConversationDetailView(APIView):
    @extend_schema(
        parameters=[s.RetrieveQuery],
        responses={200: s.ConversationDetailSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: uuid.UUID) -> Response:
        query = _query(s.RetrieveQuery, request)
        return _cacheable_response(
            selectors.conversation_with_recent_messages(
                user=request.user,
                conversation_id=conversation_id,
                messages=query.get("messages"),
                shape=lambda conversation: s.ConversationDetailSerializer(conversation).data,
            )
        )

    @extend_schema(
        request=s.ConversationUpdateInput,
        responses={200: s.ConversationSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def patch(self, request: Request, conversation_id: uuid.UUID) -> Response:
        return answers.update_conversation(
            user=request.user, conversation_id=conversation_id, data=request.data
        )

    @extend_schema(responses={204: None, 404: NOT_FOUND})
    def delete(self, request: Request, conversation_id: uuid.UUID) -> Response:
        return answers.delete_conversation(user=request.user, conversation_id=conversation_id)


class MessageListView(GenericAPIView):
    serializer_class = s.MessageSerializer
    pagination_class = MessageCursorPagination

    @extend_schema(
        parameters=[s.MessageListQuery, _page_size_parameter()],
        responses={200: s.MessageSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: uuid.UUID) -> Response:
        query = _query(s.MessageListQuery, request)
        messages = selectors.list_messages(
            user=request.user,
            conversation_id=conversation_id,
            after_seq=query["after_seq"],
            thread=query["thread"],
        )
        page = self.paginate_queryset(messages) or []
        selectors.attach_sibling_ids(messages=page)
        return self.get_paginated_response(s.MessageSerializer(page, many=True).data)

    @extend_schema(
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
    def post(self, request: Request, conversation_id: uuid.UUID) -> Response:
        return answers.add_message(
            user=request.user, conversation_id=conversation_id, data=request.data
        )


class ExportView(APIView):
    @extend_schema(
        parameters=[s.ExportQuery],
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
    def get(self, request: Request, conversation_id: uuid.UUID) -> StreamingHttpResponse | Response:
        query = _query(s.ExportQuery, request)
        conversation = selectors.get_conversation(
            user=request.user, conversation_id=conversation_id
        )
        try:
            slot = streams.acquire_stream_slot(user=request.user)
        except streams.TooManyStreams as exc:
            return limit_response(exc)
        return exports.export_download(
            user=request.user, conversation=conversation, export_format=query["format"], slot=slot
        )


class ExportAllView(APIView):
    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="Numina's archive: manifest.json, and per conversation "
                "conversations/<id>.json and conversations/<id>.md.",
            ),
            429: OpenApiResponse(description="Too many streams open at once (too_many_streams)."),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse | Response:
        """Every conversation of the user's as one ZIP, streamed in bounded memory."""
        try:
            slot = streams.acquire_stream_slot(user=request.user)
        except streams.TooManyStreams as exc:
            return limit_response(exc)
        return archive.archive_download(user=request.user, slot=slot)


class StatsView(APIView):
    @extend_schema(responses={200: s.AccountStatsSerializer})
    def get(self, request: Request) -> Response:
        return Response(s.AccountStatsSerializer(stats.account_stats(user=request.user)).data)


class ImportView(APIView):
    @extend_schema(
        request=s.ExportSerializer, responses={201: s.ConversationSerializer, 400: BAD_REQUEST}
    )
    def post(self, request: Request) -> Response:
        document = _body(s.ExportSerializer, request)
        conversation = services.import_document(user=request.user, document=document)
        conversation = selectors.get_conversation(
            user=request.user, conversation_id=conversation.id
        )
        return Response(s.ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ImportFileView(APIView):
    """POST /api/v1/import/: a whole export (services.bulk_import, README "Import")."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": s.ImportUploadInput},
        responses={
            201: s.ImportResultSerializer,
            202: OpenApiResponse(
                s.ImportJobSerializer,
                description="A large file: imported by a job; GET /api/v1/import/{id}/.",
            ),
            400: BAD_REQUEST,
        },
    )
    def post(self, request: Request) -> Response:
        upload = _body(s.ImportUploadInput, request)["file"]
        # The size before a byte is read into memory (the upload is on disk past 2.5 MB).
        bulk_import.check_upload_size(size=upload.size or 0)
        result = bulk_import.import_file(
            user=request.user, data=upload.read(), filename=upload.name or ""
        )
        if isinstance(result, bulk_import.ImportOutcome):
            return Response(
                s.ImportResultSerializer(result.as_answer()).data, status=status.HTTP_201_CREATED
            )
        return Response(s.ImportJobSerializer(result).data, status=status.HTTP_202_ACCEPTED)


class ImportJobView(APIView):
    @extend_schema(responses={200: s.ImportJobSerializer, 404: NOT_FOUND})
    def get(self, request: Request, job_id: uuid.UUID) -> Response:
        job = access.import_job_for(user=request.user, job_id=job_id)
        return Response(s.ImportJobSerializer(job).data)


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


def _since(token: str | None) -> cursors.SyncPoint:
    """The point a client's ``since`` resumes after; none: from the beginning."""
    if not token:
        return cursors.SyncPoint(change=0)
    try:
        return cursors.sync_point(token=token)
    except cursors.InvalidCursor:
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
                "page_size",
                int,
                description=(
                    "Items per answer (conversations, deletions and, with "
                    "include=messages, messages): default 100, at most 100."
                ),
            ),
            OpenApiParameter(
                "include",
                str,
                enum=[s.SYNC_INCLUDE_MESSAGES],
                description=(
                    "messages: each answer also carries the messages stored since `since`."
                ),
            ),
        ],
        responses={200: s.SyncSerializer, 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        query = _query(s.SyncQuery, request)
        limit = min(
            query.get("page_size", settings.NUMINA_SYNC_PAGE_SIZE), settings.NUMINA_MAX_PAGE_SIZE
        )
        include_messages = query.get("include") == s.SYNC_INCLUDE_MESSAGES
        page = selectors.sync_changes(
            user=request.user,
            since=_since(query.get("since")),
            limit=limit,
            include_messages=include_messages,
        )
        answer = {
            "conversations": page.conversations,
            "deleted": page.deleted,
            "next_since": cursors.sync_token(
                position=page.next_since, message_seq=page.next_message_seq
            ),
            "has_more": page.has_more,
        }
        if include_messages:
            answer["messages"] = page.messages
        return Response(s.SyncSerializer(answer).data)
