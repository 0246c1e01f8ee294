"""Cursor (keyset) pagination for every list, on indexed columns (DRF's CursorPagination).

DRF's cursor keeps the position of the first ordering field and an offset among rows
that share it, so a new conversation arriving at the top never shifts a page a client
is walking through; the trailing id makes the order total.

A cursor comes from the client, so its position is input like any other: it is checked
here, once for every list, against the field it stands for, before it reaches a filter.
"""

import math

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination


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
