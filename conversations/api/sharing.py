"""Share links over the API (API.md "Sharing and bulk actions"): the owner makes and ends
them; anyone with a link reads its snapshot, without signing in.

The public read carries nothing of the owner (no name, no id) and no id at all: neither
the conversation's nor its messages', so a snapshot points at nothing else of theirs.
Every answer of it, a 404 too, says ``X-Robots-Tag: noindex``; its lookups are throttled
per client address (NUMINA_SHARE_RATE, shared with the page /s/<token>/).
"""

from __future__ import annotations

import uuid

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from numina.errors import ErrorSerializer, error_response
from numina.throttling import ShareLookupThrottle

from .. import services
from ..models import Role
from ..selectors import sharing

NOINDEX = "noindex"


class ShareLinkSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="Shown only now: only its hash is kept, so it cannot be read back later."
    )
    url = serializers.URLField(help_text="The page of the snapshot (/s/<token>/).")
    created_at = serializers.DateTimeField()


class SharedMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
    content = serializers.CharField()
    created_at = serializers.DateTimeField()


class SharedConversationSerializer(serializers.Serializer):
    title = serializers.CharField(help_text="The chat's title when it was shared (may be empty).")
    shared_at = serializers.DateTimeField()
    messages = SharedMessageSerializer(
        many=True,
        help_text=(
            "The branch shown when it was shared, oldest first: its newest "
            "NUMINA_SHARE_MAX_MESSAGES messages."
        ),
    )
    earlier_messages_left_out = serializers.BooleanField(
        help_text="The branch goes on above the first message given (past the bound)."
    )


def shared_url(request: Request, token: str) -> str:
    return request.build_absolute_uri(reverse("shared", args=[token]))


class ShareView(APIView):
    @extend_schema(
        request=None,
        responses={
            201: ShareLinkSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="nothing_to_share (no messages yet) or too_many_share_links.",
            ),
            404: OpenApiResponse(description="No such conversation for this user."),
        },
    )
    def post(self, request: Request, conversation_id: uuid.UUID) -> Response:
        """A new read-only link to the current branch as it is now; sharing again makes
        another link, the earlier ones keep theirs."""
        try:
            made = services.share_conversation(user=request.user, conversation_id=conversation_id)
        except services.ShareRefused as exc:
            return error_response(detail=exc.detail, code=exc.code)
        answer = {
            "token": made.token,
            "url": shared_url(request, made.token),
            "created_at": made.link.created_at,
        }
        return Response(ShareLinkSerializer(answer).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            204: OpenApiResponse(description="Every link of the chat answers 404 from now on."),
            404: OpenApiResponse(description="No such conversation for this user."),
        },
    )
    def delete(self, request: Request, conversation_id: uuid.UUID) -> Response:
        services.stop_sharing(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SharedConversationView(APIView):
    """The snapshot a share link shows, to anyone with its token: no sign-in needed."""

    # No authentication at all (not even a session, so no CSRF): the token is the key.

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ShareLookupThrottle]

    @extend_schema(
        auth=[],
        responses={
            200: SharedConversationSerializer,
            404: OpenApiResponse(
                description="No such link: never made, revoked, or its chat deleted."
            ),
            429: OpenApiResponse(description="Too many lookups from this address."),
        },
    )
    def get(self, request: Request, token: str) -> Response:
        snapshot = sharing.shared_snapshot(token=token)
        return Response(
            SharedConversationSerializer(
                {
                    "title": snapshot.title,
                    "shared_at": snapshot.shared_at,
                    "messages": snapshot.messages,
                    "earlier_messages_left_out": snapshot.earlier,
                }
            ).data
        )

    def finalize_response(self, request, response, *args, **kwargs):
        # Every answer, the 404 and the 429 included: no search engine keeps any of them.
        response = super().finalize_response(request, response, *args, **kwargs)
        response["X-Robots-Tag"] = NOINDEX
        return response
