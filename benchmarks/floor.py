"""The floor the benchmark compares Numina's list with: a bare DRF list view over the same
table (the user's active conversations, newest first, cursor-paginated), with DRF's
defaults and none of Numina's work (tags, filters, cache). Served only when
NUMINA_BENCHMARK_FLOOR is on (benchmarks/run.py turns it on).

``FloorUploadView`` is the floor of the file upload (benchmarks/files_bench.py): DRF's
multipart parser with Django's default upload handlers, the file received and dropped,
with none of Numina's work (hashing, type checks, storage, quota)."""

from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

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


class FloorUploadView(APIView):
    parser_classes = [MultiPartParser]

    def post(self, request):
        upload = request.data["file"]
        size = upload.size
        upload.close()
        return Response({"size": size}, status=201)
