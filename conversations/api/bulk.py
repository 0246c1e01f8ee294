"""POST /api/v1/conversations/bulk/ — one action on many conversations (API.md,
"Sharing and bulk actions"); the rules are services/bulk.py's.

The envelope is all-or-nothing: ``ids`` missing, empty, not a list, longer than
NUMINA_BULK_MAX_IDS or holding a value that is not a UUID, an unknown ``action``, a tag
action without ``tags`` (or tags given to another action) is a 400 and nothing is
applied. Past it, every id has its own row: 200 done, 404 not the user's (or missing,
or in the trash), 400 with the single action's ``errors`` (a tag past the bound).
Like the offline queue, a request weighs its number of ids against the user rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from numina import throttling

from ..services import bulk
from . import answers
from .fields import CountFirstListField

_STATUS = {"done": status.HTTP_200_OK, "not_found": status.HTTP_404_NOT_FOUND}


class StrictUUIDField(serializers.UUIDField):
    """A UUID as a string only: DRF's own also takes an integer (``UUID(int=…)``), and
    ``12345`` is no conversation's id."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class BulkIdsField(CountFirstListField):
    child = StrictUUIDField()
    limit_setting = "NUMINA_BULK_MAX_IDS"
    items_name = "elements"


class BulkInput(serializers.Serializer):
    ids = BulkIdsField(
        min_length=1,
        max_length=settings.NUMINA_BULK_MAX_IDS,
        help_text="At most NUMINA_BULK_MAX_IDS (100) conversations; a repeated id counts once.",
    )
    action = serializers.ChoiceField(choices=list(bulk.ACTIONS))
    tags = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        help_text="Required for add_tags and remove_tags, refused with any other action.",
    )


class BulkResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(
        choices=[200, 400, 404],
        help_text=(
            "200 done (also when nothing needed to change); 404 not this user's "
            "conversation, missing, or in the trash (for all but restore); 400 the action "
            "refused for this one (see errors)."
        ),
    )
    # DRF's metaclass moves declared fields off the class, so Serializer.errors stays.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="With a 400 only: the field map the single action answers.",
    )


class BulkResponseSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


def _row(result: bulk.BulkResult) -> dict:
    if result.outcome == "invalid":
        return {"id": result.id, "status": status.HTTP_400_BAD_REQUEST, "errors": result.errors}
    return {"id": result.id, "status": _STATUS[result.outcome]}


class BulkView(APIView):
    throttle_classes = [throttling.OperationsRateThrottle]

    def throttle_weight(self, request: Request) -> int:
        """One per id (at least one), as the offline queue counts its operations."""
        ids = request.data.get("ids") if isinstance(request.data, Mapping) else None
        return min(len(ids), settings.NUMINA_BULK_MAX_IDS) if isinstance(ids, list) else 1

    @extend_schema(
        request=BulkInput,
        responses={
            200: OpenApiResponse(
                BulkResponseSerializer, description="One row per distinct id, in order."
            ),
            400: OpenApiResponse(
                description=(
                    "The request is wrong (ids missing, empty, too many or not UUIDs; an "
                    "unknown action; a tag action without tags): nothing applied."
                )
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = answers.valid(BulkInput, request.data)
        results = bulk.apply_to_each(
            user=request.user, ids=body["ids"], action=body["action"], tags=body.get("tags")
        )
        return Response(BulkResponseSerializer({"results": [_row(r) for r in results]}).data)
