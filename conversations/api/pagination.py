"""Cursor (keyset) pagination for every list, on indexed columns (DRF's CursorPagination).

DRF's cursor keeps the position of the first ordering field and an offset among rows
that share it, so a new conversation arriving at the top never shifts a page a client
is walking through; the trailing id makes the order total.
"""

from django.conf import settings
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class NuminaCursorPagination(CursorPagination):
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        # Read per request so the limits stay settings.
        self.page_size = settings.NUMINA_PAGE_SIZE
        self.max_page_size = settings.NUMINA_MAX_PAGE_SIZE

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404; in this API 404 means "no such
        # conversation", and a garbled cursor is bad input.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None


class ConversationCursorPagination(NuminaCursorPagination):
    ordering = ("-last_activity_at", "-id")


class MessageCursorPagination(NuminaCursorPagination):
    ordering = ("seq",)


class SearchCursorPagination(NuminaCursorPagination):
    # rank is an annotation (selectors.search_messages); the id orders equal ranks.
    ordering = ("-rank", "-id")
