"""The browser UI: server-rendered pages and htmx partials over the services and selectors.

Every action is a plain form that works without JavaScript (POST, then a redirect); the
same URL answers an htmx request with a partial, or with 204 and an ``HX-Trigger`` of
``conversationsChanged`` on which the sidebar and the chat's title reload themselves.
The composer calls the same chat service as the API (services.stream_chat): its script
asks for the reply as a stream of JSON lines (``X-Numina-Stream``). The same limits hold
as in the API: the daily token budget and the cap on open streams answer 429 with a
message in the composer, before anything is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from numina.throttling import ChatRateThrottle

from . import cache, exports, llm, rendering, selectors, services, streams, validation
from .forms import ExportForm, MessageForm, TitleForm
from .limits import LimitReached
from .models import Conversation
from .selectors import sidebar
from .services import spend


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (its documented typing pattern)."""

    htmx: HtmxDetails


CHANGED = "conversationsChanged"
SEARCH_LIMIT = 20
# The title partial asks again every two seconds while a chat has no title, this many
# times at most: a stopped worker must not keep every open tab polling for ever.
TITLE_POLLS = 30
STREAM_HEADER = "X-Numina-Stream"
# A message's seq is a PostgreSQL integer.
SEQ_MAX = 2**31 - 1


def _get_or_404(request: HtmxHttpRequest, conversation_id) -> Conversation:
    try:
        return selectors.get_conversation(user=request.user, conversation_id=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such chat.") from None


def _current_chat_id(request: HtmxHttpRequest) -> str | None:
    """The chat open in the page an htmx request came from (for the sidebar's highlight)."""
    if not request.htmx or not request.htmx.current_url_abs_path:
        return None
    try:
        match = resolve(request.htmx.current_url_abs_path.split("?")[0])
    except Resolver404:
        return None
    chat_id = match.kwargs.get("conversation_id")
    return str(chat_id) if chat_id else None


def _sidebar(request: HtmxHttpRequest, *, current_id=None) -> dict:
    """The sidebar's state from the query string: ?archived=1, ?q=…, ?cursor=…."""
    archived = request.GET.get("archived") == "1"
    query = request.GET.get("q", "").strip()
    state = {
        "archived": archived,
        "query": query,
        "current_id": str(current_id) if current_id else None,
        "page": None,
        "search": None,
        "search_errors": [],
    }
    if query:
        try:
            state["search"] = sidebar.sidebar_search(
                user=request.user, query=query, limit=SEARCH_LIMIT
            )
        except ValidationError as exc:
            state["search_errors"] = exc.messages
    else:
        state["page"] = sidebar.sidebar_page(
            user=request.user,
            archived=archived,
            cursor=request.GET.get("cursor"),
            size=settings.NUMINA_PAGE_SIZE,
        )
    return {"sidebar": state}


def _is_offline() -> bool:
    # Without a key the offline provider answers: say so plainly on the page.
    return llm.get_provider().name == llm.OFFLINE_PROVIDER


def _rendered_messages(
    request: HtmxHttpRequest, conversation: Conversation, *, before_seq: int | None
) -> dict:
    """A window of the chat's messages as HTML (Markdown rendered and sanitised), with the
    first one's seq. The newest window — what opening a chat shows — comes from the same
    versioned cache entry family as the API's (cache.py), so any change to the
    conversation makes it stale; older windows are rendered each time."""

    def build() -> tuple[int, dict]:
        version = conversation.change_seq  # read with the row, before the messages
        window = sidebar.messages_before(
            user=request.user,
            conversation=conversation,
            before_seq=before_seq,
            limit=settings.NUMINA_RETRIEVE_MESSAGES,
        )
        html = render_to_string(
            "conversations/_message_list.html",
            {"chat_messages": zip(window, rendering.render_messages(messages=window), strict=True)},
        )
        return version, {"html": html, "first_seq": window[0].seq if window else None}

    if before_seq is not None:
        return build()[1]
    value, _ = cache.cached(
        kind=cache.CONVERSATION,
        scope=cache.conversation_scope(owner_id=request.user.pk, conversation_id=conversation.id),
        variant="ui:messages",
        build=build,
    )
    return value


def _chat_page(
    request: HtmxHttpRequest, conversation: Conversation | None, *, form=None, status=200
) -> HttpResponse:
    rendered: dict[str, Any] = (
        _rendered_messages(request, conversation, before_seq=_before_seq(request))
        if conversation
        else {"html": "", "first_seq": None}
    )
    context = {
        "conversation": conversation,
        # Our own template's output (message text inside it is escaped or sanitised there);
        # marked safe again because a trip through the cache drops the marking.
        "messages_html": mark_safe(rendered["html"]),  # noqa: S308
        "first_seq": rendered["first_seq"],
        "has_earlier": (rendered["first_seq"] or 1) > 1,
        "form": form or MessageForm(),
        "offline": _is_offline(),
        "poll_title": _should_poll_title(conversation, polls=0),
        **_sidebar(request, current_id=conversation.id if conversation else None),
    }
    return render(request, "conversations/chat.html", context, status=status)


def _before_seq(request: HtmxHttpRequest) -> int | None:
    """The seq of ?before= ("earlier messages"); a value that is no seq shows the newest
    messages, as a page without it would."""
    try:
        return validation.parse_count(request.GET.get("before"), maximum=SEQ_MAX)
    except ValidationError:
        return None


def _should_poll_title(conversation: Conversation | None, *, polls: int) -> bool:
    return bool(
        conversation
        and not conversation.title
        and conversation.message_count
        and polls < TITLE_POLLS
    )


@login_required
@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The newest active chat, or an empty composer for a first one."""
    newest = selectors.list_conversations(user=request.user).prefetch_related(None).first()
    return _chat_page(request, newest)


@login_required
@require_GET
def new_chat(request: HtmxHttpRequest) -> HttpResponse:
    return _chat_page(request, None)


@login_required
@require_GET
def chat_detail(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    return _chat_page(request, _get_or_404(request, conversation_id))


@login_required
@require_GET
def chat_list(request: HtmxHttpRequest) -> HttpResponse:
    """The sidebar's list (a tab, a search, or the next page): htmx only."""
    if not request.htmx:
        return HttpResponseRedirect(f"{reverse('home')}?{request.GET.urlencode()}")
    template = (
        "conversations/_chat_page.html"
        if request.GET.get("cursor")
        else "conversations/_chat_list.html"
    )
    return render(request, template, _sidebar(request, current_id=_current_chat_id(request)))


@login_required
@require_GET
def chat_title(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """The chat's heading; polls itself while the worker has not titled the chat yet."""
    conversation = _get_or_404(request, conversation_id)
    try:
        polls = validation.parse_count(request.GET.get("polls", "0"), maximum=TITLE_POLLS) + 1
    except ValidationError:
        polls = TITLE_POLLS  # garbled or past the limit: stop polling
    return render(
        request,
        "conversations/_chat_title.html",
        {
            "conversation": conversation,
            "poll_title": _should_poll_title(conversation, polls=polls),
            "polls": polls,
            # The worker's title just arrived: the sidebar's entry takes it too, in place
            # (an out-of-band swap), so an open menu there stays open.
            "title_arrived": bool(
                conversation.title
                and not conversation.title_set_by_user
                and request.GET.get("polls")
            ),
        },
    )


def _next_url(request: HtmxHttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


def _done(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """After an action: 204 + the sidebar reloads (htmx), or back where the form was."""
    if request.htmx:
        return HttpResponse(status=204, headers={"HX-Trigger": CHANGED})
    return redirect(_next_url(request, reverse("chat", args=[conversation_id])))


def _act(service, request: HtmxHttpRequest, conversation_id, **kwargs) -> None:
    try:
        service(user=request.user, conversation_id=conversation_id, **kwargs)
    except Conversation.DoesNotExist:
        raise Http404("No such chat.") from None


ACTIONS = {
    "archive": services.archive_conversation,
    "unarchive": services.unarchive_conversation,
    "pin": services.pin_conversation,
    "unpin": services.unpin_conversation,
}


@login_required
@require_POST
def chat_action(request: HtmxHttpRequest, conversation_id, action: str) -> HttpResponse:
    _act(ACTIONS[action], request, conversation_id)
    return _done(request, conversation_id)


@login_required
@require_http_methods(["GET", "POST"])
def rename(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """GET: the inline Title field (htmx) or a page with it; POST: save the title."""
    conversation = _get_or_404(request, conversation_id)
    form = TitleForm(request.POST or None, initial={"title": conversation.title})
    if request.method == "POST" and form.is_valid():
        _act(
            services.rename_conversation,
            request,
            conversation_id,
            title=form.cleaned_data["title"],
        )
        return _done(request, conversation_id)
    status = 400 if request.method == "POST" and not request.htmx else 200
    if request.htmx:
        return render(
            request,
            "conversations/_chat_item_rename.html",
            {"conversation": conversation, "form": form},
        )
    return render(
        request,
        "conversations/rename.html",
        {
            "conversation": conversation,
            "form": form,
            **_sidebar(request, current_id=conversation_id),
        },
        status=status,
    )


@login_required
@require_GET
def chat_item(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """One sidebar entry (Escape in the inline rename puts it back)."""
    conversation = _get_or_404(request, conversation_id)
    return render(
        request,
        "conversations/_chat_item.html",
        {"conversation": conversation, "current_id": _current_chat_id(request)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """GET: a confirmation page (without JavaScript); POST: delete."""
    if request.method == "GET":
        conversation = _get_or_404(request, conversation_id)
        return render(
            request,
            "conversations/delete.html",
            {"conversation": conversation, **_sidebar(request, current_id=conversation_id)},
        )
    _act(services.delete_conversation, request, conversation_id)
    chat_url = reverse("chat", args=[conversation_id])
    if request.htmx:
        if _current_chat_id(request) == str(conversation_id):
            return HttpResponseClientRedirect(reverse("home"))
        return HttpResponse(status=204, headers={"HX-Trigger": CHANGED})
    next_url = _next_url(request, reverse("home"))
    return redirect(reverse("home") if next_url.startswith(chat_url) else next_url)


@login_required
@require_GET
def export(request: HtmxHttpRequest, conversation_id) -> HttpResponse | StreamingHttpResponse:
    """A JSON or Markdown download, streamed (the same documents as the API's export)."""
    conversation = _get_or_404(request, conversation_id)
    form = ExportForm(request.GET)
    chosen = form.cleaned_data["format"] if form.is_valid() else ""
    try:
        slot = streams.acquire_stream_slot(user=request.user)
    except streams.TooManyStreams as exc:
        return _limit_reached(HttpResponse(exc.detail, content_type="text/plain"), exc)
    return exports.export_download(
        user=request.user,
        conversation=conversation,
        export_format=chosen or exports.DEFAULT_EXPORT_FORMAT,
        slot=slot,
    )


@login_required
@require_POST
def send(request: HtmxHttpRequest, conversation_id=None) -> HttpResponse | StreamingHttpResponse:
    """The composer: store the user's message and get the assistant's reply.

    The script asks for a stream (``X-Numina-Stream: 1``) of JSON lines: ``delta`` events
    with the reply's text as it arrives, then ``done`` (or ``error``: the model failed,
    the user's message is kept) carrying the stored messages as HTML. Without it, the
    whole exchange runs and the chat page follows.
    """
    conversation = _get_or_404(request, conversation_id) if conversation_id else None
    form = MessageForm(request.POST)
    streaming = request.headers.get(STREAM_HEADER) == "1"
    throttle = ChatRateThrottle()
    # The API's bucket of replies per user (NUMINA_THROTTLE_CHAT): the browser is no
    # way around it.
    # DRF's rate throttle reads only the user and META, which a Django request has.
    if form.is_valid() and not throttle.allow_request(request, None):  # type: ignore[arg-type]
        wait = math.ceil(throttle.wait() or 1)
        form.add_error("content", f"Too many messages. Try again in {wait} seconds.")
        if streaming:
            return JsonResponse({"errors": form.errors["content"]}, status=429)
        return _chat_page(request, conversation, form=form, status=429)
    if not form.is_valid():
        if streaming:
            return JsonResponse({"errors": form.errors.get("content", [])}, status=400)
        return _chat_page(request, conversation, form=form, status=400)
    content = form.cleaned_data["content"]
    try:
        # Checked here too, and not only by the chat service: a new chat is made below,
        # and a streamed refusal would come after the 200 had gone out.
        spend.ensure_within_budget(user=request.user)
        slot = streams.acquire_stream_slot(user=request.user) if streaming else None
    except LimitReached as exc:
        form.add_error("content", exc.detail)
        if streaming:
            return _limit_reached(JsonResponse({"errors": form.errors["content"]}), exc)
        return _limit_reached(_chat_page(request, conversation, form=form, status=429), exc)
    is_new = conversation is None
    if conversation is None:
        # Made here rather than by the chat service so a new chat's address is known
        # before the reply has finished.
        conversation = services.create_conversation(user=request.user)
    if slot is not None:  # streaming
        lines = (
            json.dumps(event) + "\n" for event in _stream(request, conversation, content, is_new)
        )
        response = StreamingHttpResponse(
            streams.HeldStream(lines, slot=slot), content_type="application/x-ndjson"
        )
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must pass each line on at once
        return response
    try:
        services.chat(user=request.user, message=content, conversation_id=conversation.id)
    except services.AssistantUnavailable:
        flash.error(request, UNAVAILABLE)
    except LimitReached as exc:
        flash.error(request, exc.detail)
    return redirect(reverse("chat", args=[conversation.id]))


UNAVAILABLE = "The assistant could not answer right now. Your message is saved; try again later."
DELETED = "This chat was deleted while the assistant was answering."


def _limit_reached(response: HttpResponse, exc: LimitReached) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(exc.retry_after)
    return response


def _stream(
    request: HtmxHttpRequest, conversation: Conversation, content: str, is_new: bool
) -> Iterator[dict]:
    try:
        for event in services.stream_chat(
            user=request.user, message=content, conversation_id=conversation.id
        ):
            if isinstance(event, services.TextDelta):
                yield {"type": "delta", "text": event.text}
            else:
                yield _finished(
                    request,
                    event.conversation,
                    [event.user_message, event.assistant_message],
                    is_new,
                )
    except services.AssistantUnavailable as exc:
        if exc.code == services.CONVERSATION_DELETED:
            yield {"type": "error", "html": "", "message": DELETED}
            return
        yield {
            **_finished(request, exc.conversation, [exc.user_message], is_new),
            "type": "error",
            "message": UNAVAILABLE,
        }
    except Conversation.DoesNotExist:
        # Deleted (in another tab) before the message could be stored.
        yield {"type": "error", "html": "", "message": DELETED}
    except LimitReached as exc:
        # Spent by another request since the check in ``send``: nothing was stored.
        yield {"type": "error", "html": "", "message": exc.detail}


def _finished(
    request: HtmxHttpRequest, conversation: Conversation, stored: list, is_new: bool
) -> dict:
    """The ``done`` event: the stored messages as HTML and, for a new chat, its address
    and its heading (which polls until the worker has titled the chat)."""
    event = {
        "type": "done",
        "html": "".join(
            render_to_string(
                "conversations/_message.html",
                {"message": message, "message_html": message_html},
                request=request,
            )
            for message, message_html in zip(
                stored, rendering.render_messages(messages=stored), strict=True
            )
        ),
    }
    if is_new:
        event["url"] = reverse("chat", args=[conversation.id])
        event["send_url"] = reverse("send", args=[conversation.id])
        event["heading"] = render_to_string(
            "conversations/_chat_title.html",
            {"conversation": conversation, "poll_title": _should_poll_title(conversation, polls=0)},
            request=request,
        )
    return event
