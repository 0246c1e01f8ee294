"""The chat endpoints and the context endpoint of API.md: thin views over the services.

``POST /api/v1/chat/`` answers 201 with the stored user message and the reply, 502
(``llm_unavailable``, with the stored user message) when the model fails, and with
``"stream": true`` a ``text/event-stream`` of ``delta`` events and one ``done`` (or
``error``) event. 429 with ``Retry-After`` when the user's daily token budget is spent
(``token_budget_exceeded``, nothing stored) or the user already holds the most streams
at once (``too_many_streams``). ``POST /api/v1/chat/regenerate/`` answers the same way
(``_ReplyView``) with a new version of a reply: 201 ``{conversation,
assistant_message}``, 502 with nothing stored.
``GET /api/v1/conversations/{id}/context/`` shows what the next model call would send.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.views import APIView

from memory.models import Kind
from numina.errors import error_response
from numina.pools import waits
from numina.throttling import ChatRateThrottle

from .. import context, selectors, services, streams
from ..limits import LimitReached
from .serializers import ConversationSerializer, MessageSerializer, ParentIdField

UNAVAILABLE_DETAIL = "The assistant could not answer right now. Your message is saved."
OK_DESCRIPTION = (
    "JSON: the client_id was answered before; the stored pair, nothing new. "
    'Event stream (with "stream": true): delta events {"text"}, then one done event '
    "carrying the 201 object, or an error event carrying the 502 object."
)


class ChatInput(serializers.Serializer):
    # Types only: the content's bounds are the services' (validation.clean_content).
    message = serializers.CharField(
        trim_whitespace=False,
        allow_blank=True,
        help_text="1 to 100,000 characters, not only white space.",
    )
    conversation_id = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="Absent: a new conversation."
    )
    client_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Sent again with the same message, it stores and answers nothing twice.",
    )
    parent_id = ParentIdField()
    attachments = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False, allow_blank=True),
        required=False,
        default=list,
        help_text=(
            'At most 20: "file:<id>" of the user\'s uploaded files (sent to the model: '
            "images and PDFs as content blocks, text inline), or URL strings."
        ),
    )
    stream = serializers.BooleanField(required=False, default=False)


class RegenerateInput(serializers.Serializer):
    message_id = serializers.UUIDField(
        help_text="A reply of the assistant: the new reply becomes its sibling, and current."
    )
    stream = serializers.BooleanField(required=False, default=False)


class ChatOutput(serializers.Serializer):
    conversation = ConversationSerializer()
    user_message = MessageSerializer()
    assistant_message = MessageSerializer()


class RegenerateOutput(serializers.Serializer):
    conversation = ConversationSerializer()
    assistant_message = MessageSerializer(help_text="The new version of the reply.")


class ChatUnavailableOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(
        default="llm_unavailable",
        help_text="llm_unavailable, or conversation_deleted: it was deleted during the reply.",
    )
    user_message = MessageSerializer()


class RegenerateUnavailableOutput(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(
        default="llm_unavailable",
        help_text="llm_unavailable, or conversation_deleted: it was deleted during the reply.",
    )


class ChatEvent(serializers.Serializer):
    """One server-sent event of a streamed reply (OpenAPI 3.0: the schema of each event)."""

    event = serializers.ChoiceField(choices=["delta", "done", "error"])
    # Schema only (never serialized): the SSE event's field is named data, as on the wire.
    data = serializers.CharField(  # type: ignore[assignment]
        help_text='JSON. delta: {"text"}; done: the 201 object; error: the 502 object.'
    )


class ContextQuery(serializers.Serializer):
    budget = serializers.IntegerField(
        required=False,
        help_text="Tokens for the history: default 2000, from 100 to 100000 (settings).",
    )


class ContextMessage(serializers.Serializer):
    role = serializers.ChoiceField(choices=["user", "assistant"])
    content = serializers.JSONField(
        help_text=(
            "Text; or, for a message whose files are sent, a list of blocks: "
            '{"type": "file", "file": {"id", "name", "content_type", "size", '
            '"estimated_tokens"}} for each file (the model receives the file itself '
            'there), then {"type": "text", "text"}.'
        )
    )


class ContextMemoryItem(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    content = serializers.CharField()


class ContextOutput(serializers.Serializer):
    system = serializers.CharField()
    messages = ContextMessage(many=True)
    summary = serializers.CharField()
    instructions = serializers.CharField(
        help_text=(
            "The chat's standing instructions as sent (inside `system`); they count "
            "against the budget, the history keeping at least a quarter of it."
        )
    )
    total_messages = serializers.IntegerField()
    summarized = serializers.BooleanField(help_text="A summary stands in for older messages.")
    summarized_messages = serializers.IntegerField(help_text="How many messages it covers.")
    estimated_tokens = serializers.IntegerField()
    cached = serializers.BooleanField()
    memory = ContextMemoryItem(
        many=True,
        help_text="The memory items sent in the system prompt (none when memory is off).",
    )


DELETED_DETAIL = "The conversation was deleted while the assistant was answering."
REGENERATE_UNAVAILABLE_DETAIL = "The assistant could not answer right now. Nothing was changed."


def _chat_unavailable(exc: services.AssistantUnavailable) -> dict:
    detail = DELETED_DETAIL if exc.code == services.CONVERSATION_DELETED else UNAVAILABLE_DETAIL
    selectors.attach_sibling_ids(messages=[exc.user_message])
    return {
        "detail": detail,
        "code": exc.code,
        "user_message": MessageSerializer(exc.user_message).data,
    }


def limit_response(exc: LimitReached) -> Response:
    """429 with the limit's code and when to come back: the API's answer to a limit."""
    response = error_response(
        detail=exc.detail, code=exc.code, status_code=status.HTTP_429_TOO_MANY_REQUESTS
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data, cls=JSONEncoder)}\n\n"


def _event_stream(
    first, events: Iterator, *, answer: Callable[[services.ChatResult], dict], unavailable
) -> Iterator[str]:
    """Server-sent events: ``delta`` for each piece of text, then ``done`` (or ``error``)."""
    try:
        for event in _chain(first, events):
            if isinstance(event, services.TextDelta):
                yield _event("delta", {"text": event.text})
            else:
                yield _event("done", answer(event))
    except services.AssistantUnavailable as exc:
        # The status line has gone out already: the failure travels as an event.
        yield _event("error", unavailable(exc))


def _chain(first, events: Iterator) -> Iterator:
    yield first
    yield from events


@waits
class _ReplyView(APIView):
    """A POST that has the model write a reply: the chat throttle, the user's stream
    slots and token budget, and the same answers (JSON or an event stream, 502 when
    the model fails, 429 at a limit) for every such endpoint."""

    def shape_answer(self, result: services.ChatResult) -> dict:
        """The 201 object (and the ``done`` event's)."""
        raise NotImplementedError

    def shape_unavailable(self, exc: services.AssistantUnavailable) -> dict:
        """The 502 object (and the ``error`` event's)."""
        raise NotImplementedError

    def get_throttles(self):
        return [*super().get_throttles(), ChatRateThrottle()]

    def perform_content_negotiation(self, request, force=False):
        # A streaming client may send "Accept: text/event-stream"; errors still answer
        # as JSON rather than 406.
        return super().perform_content_negotiation(request, force=True)

    def _reply(
        self,
        *,
        stream: bool,
        write: Callable[[], services.ChatResult],
        write_streamed: Callable[[], Iterator],
    ) -> Response | StreamingHttpResponse:
        try:
            if stream:
                return self._stream(write_streamed)
            result = write()
        except services.AssistantUnavailable as exc:
            return error_response(
                **self.shape_unavailable(exc), status_code=status.HTTP_502_BAD_GATEWAY
            )
        except LimitReached as exc:
            return limit_response(exc)
        return Response(
            self.shape_answer(result),
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )

    def _stream(self, write_streamed: Callable[[], Iterator]) -> StreamingHttpResponse:
        slot = streams.acquire_stream_slot(user=self.request.user)
        try:
            events = write_streamed()
            # The first event is pulled before answering, so invalid input, an unknown
            # conversation or a model that cannot be reached still get their own status.
            first = next(events)
        except BaseException:
            slot.release()
            raise
        chunks = _event_stream(
            first, events, answer=self.shape_answer, unavailable=self.shape_unavailable
        )
        response = StreamingHttpResponse(
            streams.HeldStream(chunks, slot=slot), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must pass each event on at once
        return response


LIMITS_DESCRIPTION = (
    "Too many chat requests (NUMINA_THROTTLE_CHAT), today's token budget "
    "spent (token_budget_exceeded, nothing stored), or too many streams "
    "open at once (too_many_streams)."
)


class ChatView(_ReplyView):
    """Send a message and get the assistant's reply. The message goes after the current
    message, or after ``parent_id``: editing message M is sending its new text after
    M's parent (the new message is M's sibling, nothing is overwritten)."""

    def shape_answer(self, result: services.ChatResult) -> dict:
        selectors.attach_sibling_ids(messages=[result.user_message, result.assistant_message])
        return ChatOutput(result).data

    def shape_unavailable(self, exc: services.AssistantUnavailable) -> dict:
        return _chat_unavailable(exc)

    @extend_schema(
        request=ChatInput,
        responses={
            201: ChatOutput,
            # One status code, two media types: OpenAPI keeps one description for both.
            (200, "application/json"): OpenApiResponse(ChatOutput, description=OK_DESCRIPTION),
            (200, "text/event-stream"): OpenApiResponse(ChatEvent, description=OK_DESCRIPTION),
            400: OpenApiResponse(
                description=(
                    "Invalid input: a field → messages map (a parent_id that is not a "
                    "message of the conversation included)."
                )
            ),
            404: OpenApiResponse(description="No such conversation for this user."),
            429: OpenApiResponse(description=LIMITS_DESCRIPTION),
            502: ChatUnavailableOutput,
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        serializer = ChatInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        stream = data.pop("stream")
        return self._reply(
            stream=stream,
            write=lambda: services.chat(user=request.user, **data),
            write_streamed=lambda: services.stream_chat(user=request.user, **data),
        )


REGENERATE_STREAM_DESCRIPTION = (
    'With "stream": true: delta events {"text"}, then one done event carrying the 201 '
    "object, or an error event carrying the 502 object."
)


class RegenerateView(_ReplyView):
    """A new version of one of the assistant's replies, made from the branch before it:
    the reply's sibling, and the current message. The old reply is kept."""

    def shape_answer(self, result: services.ChatResult) -> dict:
        selectors.attach_sibling_ids(messages=[result.assistant_message])
        return RegenerateOutput(result).data

    def shape_unavailable(self, exc: services.AssistantUnavailable) -> dict:
        # The message it answers is not news to the client, and nothing new was stored.
        deleted = exc.code == services.CONVERSATION_DELETED
        return {
            "detail": DELETED_DETAIL if deleted else REGENERATE_UNAVAILABLE_DETAIL,
            "code": exc.code,
        }

    @extend_schema(
        request=RegenerateInput,
        responses={
            201: RegenerateOutput,
            (200, "text/event-stream"): OpenApiResponse(
                ChatEvent, description=REGENERATE_STREAM_DESCRIPTION
            ),
            400: OpenApiResponse(
                description="Invalid input, or message_id is not a reply of the assistant."
            ),
            404: OpenApiResponse(description="No such message for this user."),
            429: OpenApiResponse(description=LIMITS_DESCRIPTION),
            502: OpenApiResponse(
                RegenerateUnavailableOutput,
                description="The model failed: nothing was stored or changed.",
            ),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = RegenerateInput(data=request.data)
        data.is_valid(raise_exception=True)
        message_id = data.validated_data["message_id"]
        return self._reply(
            stream=data.validated_data["stream"],
            write=lambda: services.regenerate(user=request.user, message_id=message_id),
            write_streamed=lambda: services.stream_regenerate(
                user=request.user, message_id=message_id
            ),
        )


class ContextView(APIView):
    @extend_schema(
        parameters=[ContextQuery],
        responses={
            200: ContextOutput,
            400: OpenApiResponse(description="budget out of range."),
            404: OpenApiResponse(description="No such conversation for this user."),
        },
    )
    def get(self, request: Request, conversation_id: uuid.UUID) -> Response:
        query = ContextQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        built = context.get_context(
            user=request.user,
            conversation_id=conversation_id,
            budget=query.validated_data.get("budget"),
        )
        response = Response(ContextOutput(built).data)
        response["X-Cache"] = "hit" if built.cached else "miss"  # as the other cached reads
        return response
