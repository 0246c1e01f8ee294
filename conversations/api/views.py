"""The conversation API of API.md: each view validates input, calls a service or a
selector, and shapes the answer. No rules, no queries and no cache policy of their own
(a cached read's policy sits beside its selector). Path ids arrive as UUIDs (the URLs'
``<uuid:…>`` converter); any other path answers the API's JSON 404.

Also here, because every list view uses them and nothing else does: the keyset
pagination of the lists, and the query serializers of the two hot reads. The answers of
retrieve and list are shaped here as plain dicts rather than through DRF's serializers
(the field lists are the serializers' own, so the documented shape is still the one
shape): their path from URL to SQL is then this module, one selector module, the cache
and the ownership door (issue 12; ``python -m benchmarks.hot_paths`` measures it).
"""

import math
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.http import HttpResponse, StreamingHttpResponse
from drf_orjson_renderer.renderers import ORJSONRenderer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from numina.pools import waits

from .. import access, archive, cursors, exports, selectors, services, streams
from ..selectors import branches, stats, tags, trash
from ..services import bulk_import
from . import answers
from . import serializers as s
from .chat_views import limit_response

_ARCHIVED = {"false": False, "true": True, "all": None}
NOT_FOUND = OpenApiResponse(
    description="No such conversation for this user (also: not a UUID, or another user's)."
)
BAD_REQUEST = OpenApiResponse(
    description="Invalid input: a field → messages map, or {detail, code}."
)


# --- pagination -----------------------------------------------------------------------
# Cursor (keyset) pagination for every list, on indexed columns (DRF's CursorPagination).
#
# DRF's cursor keeps the position of the first ordering field and an offset among rows
# that share it, so a new conversation arriving at the top never shifts a page a client
# is walking through; the trailing id makes the order total.
#
# A cursor comes from the client, so its position is input like any other: it is checked
# here, once for every list, against the field it stands for, before it reaches a filter.


def _invalid_cursor() -> ValidationError:
    return ValidationError({"cursor": ["Invalid cursor."]})


def _ordering_field(queryset: models.QuerySet, name: str) -> models.Field:
    """The model field or annotation (search's rank) a list is ordered by."""
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    return queryset.model._meta.get_field(name)


def check_position(*, position: object, field: models.Field) -> None:
    """Refuses a position its field cannot hold: "abc" for a seq was a ValueError inside
    the ORM (a 500), a seq past PostgreSQL's integer range an error from the database, and
    "1e400" or "nan" for a rank a position no row can have."""
    try:
        value = field.to_python(position)
        # The integer fields' validators carry the database's range of the column.
        field.run_validators(value)
    except (DjangoValidationError, ValueError, TypeError, OverflowError):
        raise _invalid_cursor() from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid_cursor()


class NuminaCursorPagination(CursorPagination):
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        # Read per request so the limits stay settings.
        self.page_size = settings.NUMINA_PAGE_SIZE
        self.max_page_size = settings.NUMINA_MAX_PAGE_SIZE
        self._position_field: models.Field | None = None

    def paginate_queryset(self, queryset, request, view=None):
        # decode_cursor (called inside) needs to know what the position must be.
        self._position_field = _ordering_field(queryset, self.ordering[0].lstrip("-"))
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request) -> Cursor | None:
        # DRF answers a cursor it cannot read with 404; in this API 404 means "no such
        # conversation", and a garbled cursor is bad input.
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        if cursor is not None and cursor.position is not None and self._position_field:
            check_position(position=cursor.position, field=self._position_field)
        return cursor


class ConversationCursorPagination(NuminaCursorPagination):
    ordering = ("-last_activity_at", "-id")


class MessageCursorPagination(NuminaCursorPagination):
    ordering = ("seq",)


class SearchCursorPagination(NuminaCursorPagination):
    # rank is an annotation (selectors.search_messages); the id orders equal ranks.
    ordering = ("-rank", "-id")


class TrashCursorPagination(NuminaCursorPagination):
    # The partial index conv_owner_trash's order (selectors.trash).
    ordering = ("-trashed_at", "-id")


# --- query parameters of the hot reads ------------------------------------------------


class ConversationListQuery(serializers.Serializer):
    archived = serializers.ChoiceField(
        choices=["false", "true", "all"], required=False, default="false"
    )
    pinned = serializers.BooleanField(required=False, allow_null=True, default=None)
    tag = serializers.CharField(required=False, max_length=200)
    q = serializers.CharField(required=False, trim_whitespace=False, allow_blank=True)


class RetrieveQuery(serializers.Serializer):
    messages = serializers.IntegerField(required=False, min_value=0)


# --- answers of the hot reads -----------------------------------------------------------
# The reads every client makes all day (list, retrieve, a chat's messages) read
# ``values()`` rows of exactly their answer's columns, no model instances, and are
# shaped as plain dicts keyed by the output serializers' field lists, then rendered once
# by the API's renderer; a cached answer is kept as those bytes, so a hit is one Redis
# read and no encoding (issue 19). The serializers stay the documented shape:
# tests/api/test_answers_match_serializers.py holds these bytes to the bytes DRF's
# serializers and JSONRenderer give for the same rows.
_CONVERSATION_FIELDS: list[str] = s.ConversationSerializer.Meta.fields
# The columns behind them: ``tags`` comes from the tag names' subquery (answer_rows).
_CONVERSATION_COLUMNS = [name for name in _CONVERSATION_FIELDS if name != "tags"]
_ROW_KEYS = {"tags": "tag_names"}
# Part of the cached answers' keys: raised whenever their fields change (2: instructions;
# 3: kept as rendered bytes), so an entry of an old shape is never served.
ANSWER_SHAPE = "v3"
_MESSAGE_FIELDS: list[str] = s.MessageSerializer.Meta.fields
# The columns of a message's answer; branches.answer_rows and complete_answer_rows add
# the other two.
MESSAGE_COLUMNS = [name for name in _MESSAGE_FIELDS if name not in ("sibling_ids", "files")]
# Search's answer, read from selectors.search_answer_rows: each field of
# SearchResultSerializer under the row key it reads (its ``source``), and the columns of
# those rows. ``rank`` is read too, for the page's cursor; the conversation's title is
# the rows' own ``conversation_title``.
_SEARCH_FIELDS: list[str] = list(s.SearchResultSerializer().fields)
_SEARCH_ROW_KEYS = {"message_id": "id"}
_SEARCH_COLUMNS = ["conversation_id", "id", "seq", "role", "snippet", "created_at", "rank"]
_RENDERER = ORJSONRenderer()


def rendered(data: Any) -> bytes:
    """An answer's body as the API's renderer writes it (settings' DEFAULT_RENDERER)."""
    return _RENDERER.render(data)


def conversation_answer(conversation: Any) -> dict:
    """A conversation (a model instance with its tag names) as ConversationSerializer
    shapes it."""
    answer = {name: getattr(conversation, name) for name in _CONVERSATION_COLUMNS}
    answer["tags"] = conversation.tag_list
    return {name: answer[name] for name in _CONVERSATION_FIELDS}


def conversation_row_answer(row: dict) -> dict:
    """An ``answer_rows`` row as ConversationSerializer shapes it (its field order)."""
    return {name: row[_ROW_KEYS.get(name, name)] for name in _CONVERSATION_FIELDS}


def message_answer(row: dict) -> dict:
    """A ``values()`` row of MESSAGE_COLUMNS with its ``sibling_ids`` and ``files`` given,
    as MessageSerializer shapes it."""
    return {name: row[name] for name in _MESSAGE_FIELDS}


def search_result_answer(row: dict) -> dict:
    """A ``selectors.search_answer_rows`` row as SearchResultSerializer shapes it."""
    return {name: row[_SEARCH_ROW_KEYS.get(name, name)] for name in _SEARCH_FIELDS}


def conversation_detail_answer(conversation: Any) -> bytes:
    """A conversation with its ``recent`` message rows, as ConversationDetailSerializer."""
    answer = conversation_answer(conversation)
    answer["messages"] = [message_answer(message) for message in conversation.recent]
    return rendered(answer)


def _query(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _body(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _rendered_response(body: bytes) -> HttpResponse:
    # What DRF's Response with the JSON renderer sends, without rendering again.
    return HttpResponse(body, content_type=_RENDERER.media_type)


def _cacheable_response(read: selectors.CacheableRead) -> HttpResponse:
    response = _rendered_response(read.value)
    if read.cached is not None:
        response["X-Cache"] = "hit" if read.cached else "miss"
    return response


def _page_size_parameter() -> OpenApiParameter:
    return OpenApiParameter("page_size", int, description="Default 20, at most 100.")


class ConversationListView(GenericAPIView):
    serializer_class = s.ConversationSerializer
    pagination_class = ConversationCursorPagination

    @extend_schema(
        parameters=[ConversationListQuery, _page_size_parameter()],
        responses={200: s.ConversationSerializer(many=True), 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> HttpResponse:
        query = _query(ConversationListQuery, request)

        def shape(conversations) -> bytes:
            rows = conversations.answer_rows(*_CONVERSATION_COLUMNS)
            page = self.paginate_queryset(rows) or []
            selectors.attach_tag_names(rows=page)
            data = [conversation_row_answer(row) for row in page]
            return rendered(self.get_paginated_response(data).data)

        return _cacheable_response(
            selectors.conversation_list_page(
                user=request.user,
                archived=_ARCHIVED[query["archived"]],
                pinned=query["pinned"],
                tag=query.get("tag"),
                query=query.get("q"),
                parameters=request.query_params.keys(),
                # The answer's shape, then the host its links are built on.
                variant=f"{ANSWER_SHAPE}:{request.build_absolute_uri('/')}",
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
        parameters=[RetrieveQuery],
        responses={200: s.ConversationDetailSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: uuid.UUID) -> HttpResponse:
        query = _query(RetrieveQuery, request)
        return _cacheable_response(
            selectors.conversation_with_recent_messages(
                user=request.user,
                conversation_id=conversation_id,
                messages=query.get("messages"),
                shape=conversation_detail_answer,
                message_columns=MESSAGE_COLUMNS,
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

    @extend_schema(
        parameters=[s.DeleteQuery],
        responses={
            204: OpenApiResponse(
                description=(
                    "In the trash (sync reports it deleted); with permanent=true, or for "
                    "one already in the trash, gone for good."
                )
            ),
            400: BAD_REQUEST,
            404: NOT_FOUND,
        },
    )
    def delete(self, request: Request, conversation_id: uuid.UUID) -> Response:
        query = _query(s.DeleteQuery, request)
        return answers.delete_conversation(
            user=request.user, conversation_id=conversation_id, permanent=query["permanent"]
        )


class TrashListView(GenericAPIView):
    serializer_class = s.TrashedConversationSerializer
    pagination_class = TrashCursorPagination

    @extend_schema(
        parameters=[_page_size_parameter()],
        responses={200: s.TrashedConversationSerializer(many=True), 400: BAD_REQUEST},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(trash.trashed_conversations(user=request.user))
        return self.get_paginated_response(s.TrashedConversationSerializer(page, many=True).data)


class TrashRestoreView(APIView):
    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                s.ConversationSerializer,
                description="Back where it was; sync reports it changed again.",
            ),
            404: OpenApiResponse(
                description="Not in this user's trash (also: another user's, or not a UUID)."
            ),
        },
    )
    def post(self, request: Request, conversation_id: uuid.UUID) -> Response:
        services.restore_conversation(user=request.user, conversation_id=conversation_id)
        conversation = selectors.get_conversation(
            user=request.user, conversation_id=conversation_id
        )
        return Response(s.ConversationSerializer(conversation).data)


class MessageListView(GenericAPIView):
    serializer_class = s.MessageSerializer
    pagination_class = MessageCursorPagination

    @extend_schema(
        parameters=[s.MessageListQuery, _page_size_parameter()],
        responses={200: s.MessageSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request: Request, conversation_id: uuid.UUID) -> HttpResponse:
        query = _query(s.MessageListQuery, request)
        messages = selectors.list_messages(
            user=request.user,
            conversation_id=conversation_id,
            after_seq=query["after_seq"],
            thread=query["thread"],
        )
        rows = branches.answer_rows(messages, columns=MESSAGE_COLUMNS)
        page = self.paginate_queryset(rows) or []
        branches.complete_answer_rows(rows=page)
        data = [message_answer(row) for row in page]
        return _rendered_response(rendered(self.get_paginated_response(data).data))

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


@waits
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


@waits
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


class TagListView(APIView):
    @extend_schema(responses={200: s.TagCountSerializer(many=True)})
    def get(self, request: Request) -> Response:
        """The user's tags in use, by name, each with its number of conversations."""
        return Response(s.TagCountSerializer(tags.tag_counts(user=request.user), many=True).data)


@waits
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


@waits
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
        responses={200: s.SearchResultSerializer(many=True), 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def get(self, request: Request) -> HttpResponse:
        query = _query(s.SearchQueryInput, request)
        results = selectors.search_messages(
            user=request.user,
            query=query["q"],
            archived=_ARCHIVED[query["archived"]],
            conversation_id=query.get("conversation_id"),
            role=query.get("role"),
            tag=query.get("tag"),
            after=query.get("after"),
            before=query.get("before"),
        )
        rows = selectors.search_answer_rows(results, *_SEARCH_COLUMNS)
        page = self.paginate_queryset(rows) or []
        data = [search_result_answer(row) for row in page]
        return _rendered_response(rendered(self.get_paginated_response(data).data))


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
