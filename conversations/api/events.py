"""GET /api/v1/events/: the user's committed changes as server-sent events.

An async view, served under ASGI (numina/asgi.py routes this one path to Django's ASGI
handler): an open stream holds no request thread, only a coroutine waiting on its
listener (``live.Listener``), so thousands of them leave the web's threads to the rest
of the API.

Each event is one item of the user's change stream (``selectors.sync_changes`` with
messages), and its ``id:`` is the sync token just after it: a reconnect with
``Last-Event-ID`` (or ``?since=``) resumes exactly there. The stream registers its
listener before its first read, so a change that commits during that read rings it and
is read next: the catch-up and the live feed meet with nothing missed and, since every
read starts where the previous one ended, nothing sent twice.

Authentication, throttling and error answers are DRF's, as on every other endpoint:
the request first goes through ``EventStreamGate`` (a plain APIView run in a thread),
which answers any refusal itself and otherwise admits the stream.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import TokenAuthentication
from numina import metrics

from .. import cursors, live, selectors
from ..models import Conversation, Message
from . import serializers as s

# While Redis is cut off, notices from other processes may be missed: read on this timer.
DEGRADED_POLL_SECONDS = 2.0
EVENT_STREAM = "text/event-stream; charset=utf-8"
# What EventSource waits before reconnecting (milliseconds).
RETRY_MILLISECONDS = 2000
_json = JSONRenderer()


@dataclass(frozen=True)
class Admission:
    user_id: uuid.UUID
    start: cursors.SyncPoint


def _start(*, request: Request) -> cursors.SyncPoint:
    """Where the stream starts: after ``Last-Event-ID`` (an EventSource reconnecting), else
    after ``?since=``, else at the user's newest change (only what happens from now)."""
    header = request.headers.get("Last-Event-ID")
    token, field = (
        (header, "Last-Event-ID") if header else (request.query_params.get("since"), "since")
    )
    horizon = selectors.sync_horizon(user=request.user)
    if not token:
        return cursors.SyncPoint(change=horizon)
    try:
        point = cursors.sync_point(token=token)
    except cursors.InvalidCursor:
        raise ValidationError({field: ["Not an event id from this server."]}) from None
    if point.change > horizon:
        # A token from the future would silently hold back every event until the account
        # caught up with it: a token of another account, or of a database restored older.
        raise ValidationError({field: ["Ahead of this account's changes; reconnect without it."]})
    return point


class _AnswerInJson(BaseContentNegotiation):
    """EventSource asks for ``text/event-stream``: the stream is that, and a refusal is the
    API's JSON whatever was asked, never a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class EventStreamGate(APIView):
    """The stream's way in: bearer token or session, the user throttle, a 400 for a bad
    ``Last-Event-ID`` or ``since``, all as DRF answers them elsewhere."""

    content_negotiation_class = _AnswerInJson

    def get(self, request: Request) -> Response:
        user_id: uuid.UUID = request.user.pk  # type: ignore[assignment]  # authenticated
        return Response(Admission(user_id=user_id, start=_start(request=request)))


_gate = EventStreamGate.as_view()


def _admit(request: HttpRequest) -> HttpResponseBase | Admission:
    response = _gate(request)
    if isinstance(response, Response) and isinstance(response.data, Admission):
        return response.data
    response.render()  # a refusal, rendered here in the thread as Django would
    return response


# Not thread-sensitive, as the reads below: in the loop's small shared pool, whose
# threads keep their database connections from one stream to the next. In the thread of
# its own that Django's ASGI handler gives each request, the connection would stay open
# (persistent connections) for as long as the stream does: one per stream.
_admit_async = sync_to_async(_admit, thread_sensitive=False)


@dataclass(frozen=True)
class Batch:
    events: list[str]
    after: cursors.SyncPoint
    has_more: bool


def _event(*, kind: str, data: dict, after: cursors.SyncPoint) -> str:
    token = cursors.sync_token(position=after.change, message_seq=after.message_seq)
    # DRF's renderer: each event's data is byte for byte the API's JSON of that object.
    return f"id: {token}\nevent: {kind}\ndata: {_json.render(data).decode()}\n\n"


def _read(*, user_id: uuid.UUID, after: cursors.SyncPoint) -> Batch:
    """The next events after ``after``, shaped (runs in a thread: the ORM is sync).
    One page of the change stream: a fixed number of queries however much it holds."""
    from accounts.models import User

    close_old_connections()  # as at a request's start: a thread's connection may be stale
    try:
        user = User(pk=user_id)
        page = selectors.sync_changes(
            user=user, since=after, limit=settings.NUMINA_SYNC_PAGE_SIZE, include_messages=True
        )
        events = []
        data: Any
        for entry in page.entries:
            if isinstance(entry.item, Conversation):
                kind, data = "conversation", s.ConversationSerializer(entry.item).data
            elif isinstance(entry.item, Message):
                kind, data = "message", s.MessageSerializer(entry.item).data
            else:
                kind, data = "deleted", {"id": str(entry.item)}
            events.append(_event(kind=kind, data=data, after=entry.after))
            metrics.events_sent.labels(kind=kind).inc()
        end = cursors.SyncPoint(change=page.next_since, message_seq=page.next_message_seq)
        return Batch(events=events, after=end, has_more=page.has_more)
    finally:
        close_old_connections()


# Not thread-sensitive: reads of many streams run side by side in the loop's shared pool.
_read_async = sync_to_async(_read, thread_sensitive=False)


def _still_signed_in(request: HttpRequest, *, user_id: uuid.UUID) -> bool:
    """Whether the credentials that opened the stream still hold, checked at each
    heartbeat: a revoked token or a signed-out session must not keep hearing changes."""
    close_old_connections()
    try:
        if request.headers.get("Authorization"):
            found = TokenAuthentication().authenticate(Request(request))
            return found is not None and found[0].pk == user_id
        session = request.session
        return session.session_key is not None and session.exists(session.session_key)
    except AuthenticationFailed:
        return False
    finally:
        close_old_connections()


_still_signed_in_async = sync_to_async(_still_signed_in, thread_sensitive=False)


async def _stream(*, request: HttpRequest, admission: Admission) -> AsyncIterator[str]:
    after = admission.start
    with live.hub.listening(owner_id=admission.user_id) as listener:
        # The starting point as an id-only block: a client that reconnects before any
        # event resumes from here, not from "now" again.
        token = cursors.sync_token(position=after.change, message_seq=after.message_seq)
        yield f"retry: {RETRY_MILLISECONDS}\nid: {token}\n\n"
        while True:
            batch = await _read_async(user_id=admission.user_id, after=after)
            if batch.events:
                yield "".join(batch.events)
            after = batch.after
            if batch.has_more:
                continue
            # Wait for a ring; a ring for a change already read costs nothing more.
            while True:
                # Comment lines keep proxies and load balancers from closing an idle stream.
                heartbeat = settings.NUMINA_EVENTS_HEARTBEAT_SECONDS
                timeout = min(DEGRADED_POLL_SECONDS, heartbeat) if listener.degraded else heartbeat
                if await listener.wait(timeout=timeout):
                    if listener.has_news(after_change=after.change):
                        break
                elif listener.degraded:
                    break
                elif await _still_signed_in_async(request, user_id=admission.user_id):
                    yield ": keep-alive\n\n"
                else:
                    return  # signed out, token revoked, account gone: the stream ends


# DRF checks CSRF itself for session requests (the gate), as on every API view; Django's
# middleware check would answer a POST with its HTML 403 instead of the API's 405.
@csrf_exempt
async def stream(request: HttpRequest) -> HttpResponseBase:
    """GET /api/v1/events/ (see the module's docstring)."""
    admitted = await _admit_async(request)
    if not isinstance(admitted, Admission):
        return admitted  # 401, 429, 400, 405 …, in the API's format
    if request.method != "GET":  # HEAD: the headers a stream would have, no stream
        return HttpResponse(content_type=EVENT_STREAM)
    cap = settings.NUMINA_EVENTS_MAX_STREAMS_PER_USER
    if cap and live.hub.open_streams(owner_id=admitted.user_id) >= cap:
        # Each stream costs memory however idle: one account must not hold thousands.
        refused = JsonResponse(
            {
                "detail": "Too many live update streams are open; close one and try again.",
                "code": "too_many_event_streams",
            },
            status=429,
        )
        refused["Retry-After"] = str(RETRY_MILLISECONDS // 1000)
        return refused
    response = StreamingHttpResponse(
        _stream(request=request, admission=admitted), content_type=EVENT_STREAM
    )
    response["Cache-Control"] = "no-cache, no-store"
    # nginx and similar proxies would otherwise hold events back in their buffers.
    response["X-Accel-Buffering"] = "no"
    return response
