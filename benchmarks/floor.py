"""The floor the benchmark compares Numina's list with: a bare DRF list view over the same
table (the user's active conversations, newest first, cursor-paginated), with DRF's
defaults and none of Numina's work (tags, filters, cache). Served only when
NUMINA_BENCHMARK_FLOOR is on (benchmarks/run.py turns it on)."""

from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination

from accounts.models import signed_in_user
from conversations.models import Conversation


class FloorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = [
            "id",
            "title",
            "summary",
            "is_archived",
            "is_pinned",
            "message_count",
            "preview",
            "last_activity_at",
            "created_at",
            "updated_at",
        ]


class FloorPagination(CursorPagination):
    ordering = ("-last_activity_at", "-id")
    page_size = 20


class FloorListView(ListAPIView):
    serializer_class = FloorSerializer
    pagination_class = FloorPagination

    def get_queryset(self):
        return Conversation.objects.filter(owner=signed_in_user(self.request), is_archived=False)
