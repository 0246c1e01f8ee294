"""The browser UI: server-rendered pages and htmx partials over the services and selectors.

Every action is a plain form that works without JavaScript (POST, then a redirect); the
same URL answers an htmx request with a partial, or with 204 and an ``HX-Trigger`` of
``conversationsChanged`` on which the sidebar and the chat's title reload themselves.
The composer calls the same chat service as the API (services.stream_chat): its script
asks for the reply as a stream of JSON lines (``X-Numina-Stream``). The same limits hold
as in the API: the daily token budget and the cap on open streams answer 429 with a
message in the composer, before anything is stored.

The chat page shows the conversation's current branch (the path from the first message
to ``current_message``). Each of the user's messages has ``Edit`` (its new text is sent
after the same parent: a new version, a sibling of the old, whose reply streams in as
the composer's does), each reply ``Regenerate`` (a new sibling reply, streamed), and a
message with siblings ``Previous version`` / ``Next version`` with "2 / 3" between,
which make that sibling's branch the current one and swap the message list.
Message actions live under ``/chats/<id>/messages/<message id>/``: a message that is
not one of that chat's is a 404 like a chat that is not the user's.

The chat header has two panels (disclosures, so they open without a script): the chat's
``Instructions`` and its ``Sharing`` (``Share``, the new link once with ``Copy link``,
``Stop sharing``); the read-only page a link opens is share_views.py.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from memory import selectors as memory_selectors
from numina.pools import waits
from numina.throttling import ChatRateThrottle

from . import (
    access,
    cache,
    exports,
    llm,
    rendering,
    selectors,
    services,
    sources,
    streams,
)
from .downloads import file_response
from .forms import EditForm, ExportForm, InstructionsForm, MessageForm, TitleForm
from .limits import LimitReached
from .models import Conversation, ImportJob, Message, Role, UserFile
from .selectors import branches, sharing, sidebar, tags
from .services import bulk_import, spend
from .services import files as file_services


class HtmxHttpRequest(HttpRequest):
    """A request as django-htmx's middleware leaves it (its documented typing pattern)."""

    htmx: HtmxDetails


CHANGED = "conversationsChanged"
SEARCH_LIMIT = 20
# Matches find in chat lists under its field.
FIND_LIMIT = 20
STREAM_HEADER = "X-Numina-Stream"
# The chat page's cached message list; a new name whenever its shape changes, so that an
# entry of the old shape is never read (2: the current branch, with message tools).
MESSAGES_VARIANT = "ui:messages:2"


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


def _sidebar(
    request: HtmxHttpRequest,
    *,
    current_id=None,
    params: QueryDict | None = None,
    selecting: bool | None = None,
    bulk_errors: list[str] | None = None,
) -> dict:
    """The sidebar's state from the query string (or ``params``, a bulk action's form):
    ?archived=1, ?q=…, ?tag=… (Filter by tag), ?select=1 (the checkboxes of Select),
    ?cursor=… (the next page), ?chats=…&hits=… (search's More results)."""
    params = request.GET if params is None else params
    archived = params.get("archived") == "1"
    query = params.get("q", "").strip()
    tag = params.get("tag", "").strip()
    if selecting is None:
        selecting = params.get("select") == "1"
    # What every link and reload of the list carries, so a tab, a filter and a search
    # survive each other, a page of more chats and an action on several.
    kept = {
        name: value
        for name, value in (("q", query), ("tag", tag), ("archived", "1" if archived else ""))
        if value
    }
    state = {
        "archived": archived,
        "query": query,
        "tag": tag,
        "tags": tags.tag_counts(user=request.user),
        "selecting": selecting,
        "params": urlencode(kept),
        "kept": kept,
        "bulk_errors": bulk_errors or [],
        "current_id": str(current_id) if current_id else None,
        "page": None,
        "search": None,
        "search_errors": [],
    }
    if query:
        try:
            state["search"] = sidebar.sidebar_search(
                user=request.user,
                query=query,
                limit=SEARCH_LIMIT,
                tag=tag or None,
                chats_after=params.get("chats"),
                hits_after=params.get("hits"),
            )
        except ValidationError as exc:
            state["search_errors"] = exc.messages
    else:
        state["page"] = sidebar.sidebar_page(
            user=request.user,
            archived=archived,
            cursor=params.get("cursor"),
            size=settings.NUMINA_PAGE_SIZE,
            tag=tag or None,
        )
    return {"sidebar": state}


def _is_offline() -> bool:
    # Without a key the offline provider answers: say so plainly on the page.
    return llm.get_provider().name == llm.OFFLINE_PROVIDER


@dataclass(frozen=True)
class Versions:
    """Where a message stands among its versions (its siblings, in seq order)."""

    number: int
    count: int
    previous_id: uuid.UUID | None
    next_id: uuid.UUID | None


def _versions(message: Message) -> Versions | None:
    """The message's place among its versions; None when it has no other version."""
    siblings = getattr(message, "sibling_ids", None) or [message.id]
    if len(siblings) < 2:
        return None
    index = siblings.index(message.id)
    return Versions(
        number=index + 1,
        count=len(siblings),
        previous_id=siblings[index - 1] if index > 0 else None,
        next_id=siblings[index + 1] if index + 1 < len(siblings) else None,
    )


def _message_items(messages: list[Message]) -> list[dict]:
    """What ``_message.html`` shows of each message: the message, its HTML (Markdown
    rendered and sanitised) and its versions."""
    return [
        {"message": message, "message_html": message_html, "versions": _versions(message)}
        for message, message_html in zip(
            messages, rendering.render_messages(messages=messages), strict=True
        )
    ]


def _messages_html(messages: list[Message], *, request: HtmxHttpRequest | None = None) -> str:
    return render_to_string(
        "conversations/_message_list.html",
        {"chat_messages": _message_items(messages)},
        request=request,
    )


def _rendered_messages(
    request: HtmxHttpRequest,
    conversation: Conversation,
    *,
    before_id: uuid.UUID | None,
    through_id: uuid.UUID | None = None,
    cached: bool = True,
) -> dict:
    """A window of the current branch's messages as HTML, with the first one's id and
    whether the branch goes on above it. The newest window — what opening a chat shows —
    comes from the same versioned cache entry family as the API's (cache.py), so any
    change to the conversation (a new message, a new version, a branch switch) makes it
    stale; older windows are rendered each time. The HTML holds no CSRF token (it is
    shared by the user's sessions): its forms submit the page's ``message-actions``."""

    def build() -> tuple[int, dict]:
        version = conversation.change_seq  # read with the row, before the messages
        window = sidebar.messages_before(
            user=request.user,
            conversation=conversation,
            before_id=before_id,
            through_id=through_id,
            limit=settings.NUMINA_RETRIEVE_MESSAGES,
        )
        if not window and (before_id is not None or through_id is not None):
            # Not a message of this chat (or a garbled link): the newest, as without it.
            window = sidebar.messages_before(
                user=request.user,
                conversation=conversation,
                before_id=None,
                limit=settings.NUMINA_RETRIEVE_MESSAGES,
            )
        return version, {
            "html": _messages_html(window),
            "first_id": str(window[0].id) if window else None,
            "has_earlier": bool(window and window[0].parent_id),
        }

    if before_id is not None or through_id is not None or not cached:
        return build()[1]
    value, _ = cache.cached(
        kind=cache.CONVERSATION,
        scope=cache.conversation_scope(owner_id=request.user.pk, conversation_id=conversation.id),
        variant=MESSAGES_VARIANT,
        build=build,
    )
    return value


def _message_list(
    request: HtmxHttpRequest,
    conversation: Conversation | None,
    *,
    before_id: uuid.UUID | None = None,
    through_id: uuid.UUID | None = None,
    cached: bool = True,
) -> dict:
    """The context of ``_messages.html``: the message list of the chat page."""
    rendered: dict[str, Any] = (
        _rendered_messages(
            request, conversation, before_id=before_id, through_id=through_id, cached=cached
        )
        if conversation
        else {"html": "", "first_id": None, "has_earlier": False}
    )
    return {
        "conversation": conversation,
        # Our own template's output (message text inside it is escaped or sanitised there);
        # marked safe again because a trip through the cache drops the marking.
        "messages_html": mark_safe(rendered["html"]),  # noqa: S308
        "first_id": rendered["first_id"],
        "has_earlier": rendered["has_earlier"],
        # Showing a window that ends at a found message, not the newest ones.
        "at_match": through_id is not None,
    }


def _list_html(request: HtmxHttpRequest, conversation: Conversation) -> str:
    """The whole message list after a change, fresh (the new branch, its versions)."""
    return render_to_string(
        "conversations/_messages.html",
        _message_list(request, conversation, cached=False),
        request=request,
    )


def _chat_page(
    request: HtmxHttpRequest,
    conversation: Conversation | None,
    *,
    form=None,
    status=200,
    errors: list[str] | None = None,
    events_since: str | None = None,
    instructions_form: InstructionsForm | None = None,
    share: dict | None = None,
) -> HttpResponse:
    """``events_since``: the event stream's token read before ``conversation`` was (the
    views that read it first pass it); the page's script follows the stream from there,
    so a change that commits while the page is being made is not missed.
    ``instructions_form``: refused instructions, shown in the open panel; ``share``: the
    sharing panel's state after a Share (its new link, or why not)."""
    context = {
        **_instructions_panel(conversation, form=instructions_form),
        **(share if share is not None else _share_panel(conversation)),
        "events_since": events_since or selectors.current_sync_token(user=request.user),
        **_message_list(
            request, conversation, before_id=_before_id(request), through_id=_at_id(request)
        ),
        "find": _find(request, conversation),
        "form": form or MessageForm(),
        "errors": errors or [],
        "offline": _is_offline(),
        # The unobtrusive note that memory learnt something from this chat (one count).
        "memory_learnt": (
            memory_selectors.items_learnt_in(user=request.user, conversation_id=conversation.id)
            if conversation is not None and getattr(request.user, "memory_enabled", False)
            else 0
        ),
        **_sidebar(request, current_id=conversation.id if conversation else None),
    }
    return render(request, "conversations/chat.html", context, status=status)


def _instructions_panel(
    conversation: Conversation | None, *, form: InstructionsForm | None = None, saved: bool = False
) -> dict:
    """The context of ``_instructions.html``: the chat's instructions field, open when it
    holds refused text (or was just saved, for the htmx answer)."""
    if conversation is None:
        return {}
    return {
        "instructions_form": form
        or InstructionsForm(initial={"instructions": conversation.instructions}),
        "instructions_open": form is not None or saved,
        "instructions_saved": saved,
    }


def _share_panel(
    conversation: Conversation | None,
    *,
    link_url: str | None = None,
    error: str | None = None,
    shared: bool | None = None,
) -> dict:
    """The context of ``_share.html``: whether the chat is shared and, just after Share,
    the new link (the only time it can be shown: only its hash is kept) or the refusal."""
    if conversation is None:
        return {}
    return {
        "shared": sharing.is_shared(conversation=conversation) if shared is None else shared,
        "share_link_url": link_url,
        "share_error": error,
        "share_open": link_url is not None or error is not None,
    }


def _at_id(request: HtmxHttpRequest) -> uuid.UUID | None:
    """The message of ?at= (find in chat's jump: the window ends with it); ignored like
    ?before= when it is no message id."""
    return access.as_uuid(request.GET.get("at")) if request.GET.get("at") else None


@dataclass(frozen=True)
class Find:
    """Find in chat on the page: the words, the matches (best first) and the one shown."""

    query: str
    hits: list[Message]
    at: uuid.UUID | None
    errors: list[str]


def _find(request: HtmxHttpRequest, conversation: Conversation | None) -> Find | None:
    query = request.GET.get("find", "").strip()
    if conversation is None or not query:
        return None
    try:
        hits = sidebar.find_in_conversation(
            user=request.user, conversation=conversation, query=query, limit=FIND_LIMIT
        )
    except ValidationError as exc:
        return Find(query=query, hits=[], at=None, errors=exc.messages)
    return Find(query=query, hits=hits, at=_at_id(request), errors=[])


@login_required
@require_GET
def find_in_chat(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """Find in chat: jump to the best matching message (the page, its window ending at
    that message, the other matches listed under the field); none: the page says so."""
    conversation = _get_or_404(request, conversation_id)
    query = request.GET.get("q", "").strip()
    chat_url = reverse("chat", args=[conversation.id])
    if not query:
        return redirect(chat_url)
    found = _find_best(request, conversation, query)
    params = {"find": query}
    if found is None:
        return redirect(f"{chat_url}?{urlencode(params)}")
    params["at"] = str(found.id)
    return redirect(f"{chat_url}?{urlencode(params)}#m-{found.seq}")


def _find_best(request: HtmxHttpRequest, conversation: Conversation, query: str) -> Message | None:
    try:
        hits = sidebar.find_in_conversation(
            user=request.user, conversation=conversation, query=query, limit=1
        )
    except ValidationError:
        return None  # the page, with find=…, shows why
    return hits[0] if hits else None


def _before_id(request: HtmxHttpRequest) -> uuid.UUID | None:
    """The message of ?before= ("earlier messages": those above it on its branch); a
    value that is no message id shows the newest messages, as a page without it would."""
    return access.as_uuid(request.GET.get("before")) if request.GET.get("before") else None


@login_required
@require_GET
def home(request: HtmxHttpRequest) -> HttpResponse:
    """The newest active chat, or an empty composer for a first one."""
    since = selectors.current_sync_token(user=request.user)
    newest = selectors.list_conversations(user=request.user).prefetch_related(None).first()
    return _chat_page(request, newest, events_since=since)


@login_required
@require_GET
def new_chat(request: HtmxHttpRequest) -> HttpResponse:
    return _chat_page(request, None)


@login_required
@require_GET
def chat_detail(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    since = selectors.current_sync_token(user=request.user)
    return _chat_page(request, _get_or_404(request, conversation_id), events_since=since)


@login_required
@require_GET
def chat_list(request: HtmxHttpRequest) -> HttpResponse:
    """The sidebar's list (a tab, a search, or the next page): htmx only."""
    if not request.htmx:
        return HttpResponseRedirect(f"{reverse('home')}?{request.GET.urlencode()}")
    if request.GET.get("cursor"):
        template = "conversations/_chat_page.html"
    elif request.GET.get("chats") or request.GET.get("hits"):
        template = "conversations/_search_page.html"
    else:
        template = "conversations/_chat_list.html"
    return render(request, template, _sidebar(request, current_id=_current_chat_id(request)))


@login_required
@require_GET
def chat_title(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """The chat's heading: reloaded after this page's own actions (conversationsChanged)
    and, by the script, when the event stream says the chat changed elsewhere (a rename,
    the worker's title)."""
    conversation = _get_or_404(request, conversation_id)
    return render(request, "conversations/_chat_title.html", {"conversation": conversation})


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
        if request.htmx:
            # The entry itself comes back, renamed: the field leaves at once, and the
            # sidebar's reload (conversationsChanged) finds no rename under way to keep.
            response = _chat_item(request, _get_or_404(request, conversation_id))
            response["HX-Trigger"] = CHANGED
            return response
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
@require_http_methods(["GET", "POST"])
def instructions(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """The chat's standing instructions. POST saves them: htmx gets the panel back (with
    "Saved", or the refusal beside the field); a plain form goes back to the chat, or
    gets the chat page with the refusal (400). GET (no panel to open without a page):
    the chat page with the panel open."""
    conversation = _get_or_404(request, conversation_id)
    if request.method == "GET":
        form = InstructionsForm(initial={"instructions": conversation.instructions})
        return _chat_page(request, conversation, instructions_form=form)
    form = InstructionsForm(request.POST)
    if form.is_valid():
        _act(
            services.set_instructions,
            request,
            conversation_id,
            instructions=form.cleaned_data["instructions"],
        )
        if request.htmx:
            conversation = _get_or_404(request, conversation_id)
            return _panel(
                request,
                "_instructions.html",
                conversation,
                _instructions_panel(conversation, saved=True),
            )
        return redirect(reverse("chat", args=[conversation_id]))
    if request.htmx:
        # 200: htmx swaps only successful answers in, and the refusal must be seen.
        return _panel(
            request,
            "_instructions.html",
            conversation,
            _instructions_panel(conversation, form=form),
        )
    return _chat_page(request, conversation, instructions_form=form, status=400)


def _panel(
    request: HtmxHttpRequest, template: str, conversation: Conversation, panel: dict
) -> HttpResponse:
    """One of the chat header's panels (its template and its state), for htmx to swap in."""
    return render(request, f"conversations/{template}", {"conversation": conversation, **panel})


def _share_answer(
    request: HtmxHttpRequest, conversation: Conversation, *, status: int = 200, **state
) -> HttpResponse:
    """The sharing panel (htmx) or the chat page with it open (a plain form)."""
    if request.htmx:
        return _panel(request, "_share.html", conversation, _share_panel(conversation, **state))
    return _chat_page(
        request, conversation, share=_share_panel(conversation, **state), status=status
    )


@login_required
@require_POST
def share(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """Share: a new link to the chat as it is now, shown once in the panel. A plain form
    gets the chat page with it (not a redirect: the link must not travel in a URL or be
    kept in the session)."""
    conversation = _get_or_404(request, conversation_id)
    try:
        made = services.share_conversation(user=request.user, conversation_id=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such chat.") from None
    except services.ShareRefused as exc:
        # 200 for htmx, which swaps in only successful answers; 400 for a plain form.
        status = 200 if request.htmx else 400
        return _share_answer(request, conversation, status=status, error=exc.detail)
    url = request.build_absolute_uri(reverse("shared", args=[made.token]))
    return _share_answer(request, conversation, link_url=url, shared=True)


@login_required
@require_POST
def stop_sharing(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """Stop sharing: every link of the chat answers 404 from now on."""
    _act(services.stop_sharing, request, conversation_id)
    if request.htmx:
        conversation = _get_or_404(request, conversation_id)
        return _panel(
            request, "_share.html", conversation, _share_panel(conversation, shared=False)
        )
    return redirect(reverse("chat", args=[conversation_id]))


@login_required
@require_GET
def chat_item(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """One sidebar entry (Escape in the inline rename puts it back)."""
    return _chat_item(request, _get_or_404(request, conversation_id))


def _chat_item(request: HtmxHttpRequest, conversation: Conversation) -> HttpResponse:
    return render(
        request,
        "conversations/_chat_item.html",
        {"conversation": conversation, "current_id": _current_chat_id(request)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """GET: a confirmation page (without JavaScript); POST: move it to the trash."""
    if request.method == "GET":
        conversation = _get_or_404(request, conversation_id)
        return render(
            request,
            "conversations/delete.html",
            {
                "conversation": conversation,
                "trash_days": settings.NUMINA_TRASH_DAYS,
                **_sidebar(request, current_id=conversation_id),
            },
        )
    _act(services.trash_conversation, request, conversation_id)
    chat_url = reverse("chat", args=[conversation_id])
    if request.htmx:
        if _current_chat_id(request) == str(conversation_id):
            return HttpResponseClientRedirect(reverse("home"))
        return HttpResponse(status=204, headers={"HX-Trigger": CHANGED})
    next_url = _next_url(request, reverse("home"))
    return redirect(reverse("home") if next_url.startswith(chat_url) else next_url)


@waits
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


UNAVAILABLE = "The assistant could not answer right now. Your message is saved; try again later."
REGENERATE_UNAVAILABLE = (
    "The assistant could not answer right now. The reply is as it was; try again later."
)
DELETED = "This chat was deleted while the assistant was answering."
NOT_YOURS_TO_EDIT = "Only your own messages can be edited."
NOT_A_REPLY = "Only a reply of the assistant can be regenerated."


def _limit_reached(response: HttpResponse, exc: LimitReached) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(exc.retry_after)
    return response


def _is_streaming(request: HtmxHttpRequest) -> bool:
    return request.headers.get(STREAM_HEADER) == "1"


Refuse = Callable[[list[str], int], HttpResponse]


def _admit(
    request: HtmxHttpRequest, *, form: MessageForm | None, refuse: Refuse
) -> tuple[HttpResponse | None, streams.StreamSlot | None]:
    """Everything that asks the model passes the same gates, in the same order, before
    anything is stored: the API's bucket of replies per user (NUMINA_THROTTLE_CHAT; the
    browser is no way around it), the input, the daily token budget and, for a stream,
    the cap on open streams. ``(refusal, None)`` or ``(None, slot)`` (no slot without a
    stream). ``refuse(errors, status)`` answers for the page; a stream gets JSON."""
    streaming = _is_streaming(request)

    def refused(errors: list[str], status: int) -> HttpResponse:
        if streaming:
            return JsonResponse({"errors": errors}, status=status)
        return refuse(errors, status)

    valid = form is None or form.is_valid()
    throttle = ChatRateThrottle()
    # DRF's rate throttle reads only the user and META, which a Django request has.
    if valid and not throttle.allow_request(request, None):
        wait = math.ceil(throttle.wait() or 1)
        message = f"Too many messages. Try again in {wait} seconds."
        if form is not None:
            form.add_error("content", message)
        return refused([message], 429), None
    if form is not None and not valid:
        return refused([str(error) for error in form.errors.get("content", [])], 400), None
    try:
        spend.ensure_within_budget(user=request.user)
        slot = streams.acquire_stream_slot(user=request.user) if streaming else None
    except LimitReached as exc:
        if form is not None:
            form.add_error("content", exc.detail)
        return _limit_reached(refused([exc.detail], 429), exc), None
    return None, slot


def _streamed(events: Iterator[dict], *, slot: streams.StreamSlot) -> StreamingHttpResponse:
    lines = (json.dumps(event) + "\n" for event in events)
    response = StreamingHttpResponse(
        streams.HeldStream(lines, slot=slot), content_type="application/x-ndjson"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies must pass each line on at once
    return response


@waits
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
    refusal, slot = _admit(
        request,
        form=form,
        refuse=lambda errors, status: _chat_page(request, conversation, form=form, status=status),
    )
    if refusal is not None:
        return refusal
    content = form.cleaned_data["content"]
    attachments = request.POST.getlist("attachments")
    problem = _attachment_problem(request, attachments)
    if problem is not None:
        if slot is not None:
            slot.release()
            return JsonResponse({"errors": [problem]}, status=400)
        flash.error(request, problem)
        return _chat_page(request, conversation, form=form, status=400)
    is_new = conversation is None
    if conversation is None:
        # Made here rather than by the chat service so a new chat's address is known
        # before the reply has finished (and after every check above: a refused first
        # message leaves no empty chat behind).
        conversation = services.create_conversation(user=request.user)
    if slot is not None:  # streaming
        events = services.stream_chat(
            user=request.user,
            message=content,
            conversation_id=conversation.id,
            attachments=attachments,
        )
        return _streamed(_stream(request, events, is_new=is_new), slot=slot)
    try:
        services.chat(
            user=request.user,
            message=content,
            conversation_id=conversation.id,
            attachments=attachments,
        )
    except services.AssistantUnavailable:
        flash.error(request, UNAVAILABLE)
    except LimitReached as exc:
        flash.error(request, exc.detail)
    return redirect(reverse("chat", args=[conversation.id]))


def _attachment_problem(request: HtmxHttpRequest, attachments: list[str]) -> str | None:
    """Why the composer's attachments cannot be sent (checked before a new chat is made
    for them, so a refused send leaves no empty chat), or None."""
    if not attachments:
        return None
    if len(attachments) > settings.NUMINA_MAX_ATTACHMENTS:
        return f"At most {settings.NUMINA_MAX_ATTACHMENTS} files a message."
    try:
        file_services.files_to_attach(user=request.user, attachments=attachments, lock=False)
    except UserFile.DoesNotExist:
        return "An attached file is no longer there. Remove it and try again."
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


@waits
@login_required
@require_GET
def file_download(request: HtmxHttpRequest, file_id: uuid.UUID) -> FileResponse:
    """One of the user's files for the browser (404 for anyone else's): a download, or,
    with ``view=inline``, an image shown in place (the thumbnails). Never HTML: the same
    hardened answer as the API's (``nosniff``, a CSP that forbids everything)."""
    try:
        user_file = access.file_for(user=request.user, file_id=file_id)
    except UserFile.DoesNotExist:
        raise Http404 from None
    inline = request.GET.get("view") == "inline" and user_file.content_type.startswith("image/")
    return file_response(user_file, inline=inline)


def _stream(
    request: HtmxHttpRequest,
    events: Iterator[services.TextDelta | services.ChatResult],
    *,
    is_new: bool = False,
    whole_list: bool = False,
    unavailable: str = UNAVAILABLE,
) -> Iterator[dict]:
    """A chat service's events as the script's JSON lines. ``whole_list``: the ``done``
    and ``error`` events carry the whole message list (``list``) rather than the stored
    messages, for an edit or a regenerate, after which the branch shown is another."""
    try:
        for event in events:
            if isinstance(event, services.TextDelta):
                yield {"type": "delta", "text": event.text}
            else:
                yield _finished(
                    request,
                    event.conversation,
                    [event.user_message, event.assistant_message],
                    is_new=is_new,
                    whole_list=whole_list,
                )
    except services.AssistantUnavailable as exc:
        if exc.code == services.CONVERSATION_DELETED:
            yield {"type": "error", "html": "", "message": DELETED}
            return
        yield {
            **_finished(
                request,
                exc.conversation,
                [exc.user_message],
                is_new=is_new,
                whole_list=whole_list,
            ),
            "type": "error",
            "message": unavailable,
        }
    except (Conversation.DoesNotExist, Message.DoesNotExist):
        # Deleted (in another tab) before the message could be stored.
        yield {"type": "error", "html": "", "message": DELETED}
    except LimitReached as exc:
        # Spent by another request since the check in ``_admit``: nothing was stored.
        yield {"type": "error", "html": "", "message": exc.detail}
    except ValidationError as exc:
        # Refused by the service after the view's own checks (the tree moved meanwhile).
        yield {"type": "error", "html": "", "message": " ".join(exc.messages)}


def _finished(
    request: HtmxHttpRequest,
    conversation: Conversation,
    stored: list[Message],
    *,
    is_new: bool,
    whole_list: bool,
) -> dict:
    """The ``done`` event: the stored messages as HTML (or, ``whole_list``, the message
    list) and, for a new chat, its address and its heading (the worker's title reaches
    it later as a ``conversation`` event of the event stream)."""
    if whole_list:
        event = {"type": "done", "html": "", "list": _list_html(request, conversation)}
    else:
        branches.attach_sibling_ids(conversation_id=conversation.id, messages=stored)
        event = {"type": "done", "html": _messages_html(stored, request=request)}
    if is_new:
        event["url"] = reverse("chat", args=[conversation.id])
        event["send_url"] = reverse("send", args=[conversation.id])
        event["heading"] = render_to_string(
            "conversations/_chat_title.html",
            {"conversation": conversation},
            request=request,
        )
    return event


# --- one message: edit, regenerate, versions ---------------------------------------------


def _message_or_404(
    request: HtmxHttpRequest,
    conversation: Conversation,
    message_id: uuid.UUID,
    *,
    with_versions: bool = False,
) -> Message:
    message = sidebar.message_of(
        user=request.user,
        conversation=conversation,
        message_id=message_id,
        with_versions=with_versions,
    )
    if message is None:
        raise Http404("No such message.")
    return message


def _not_for_this_message(
    request: HtmxHttpRequest, conversation: Conversation, error: str
) -> HttpResponse:
    """An action this message does not have (editing a reply, regenerating one of the
    user's messages): a 400 that says why, and nothing stored."""
    if _is_streaming(request):
        return JsonResponse({"errors": [error]}, status=400)
    if request.htmx:
        return HttpResponse(error, status=400, content_type="text/plain")
    return _chat_page(request, conversation, status=400, errors=[error])


def _back_to(message: Message) -> str:
    return f"{reverse('chat', args=[message.conversation_id])}#m-{message.seq}"


@login_required
@require_GET
def message_item(request: HtmxHttpRequest, conversation_id, message_id) -> HttpResponse:
    """One message as the list shows it (Cancel in the inline edit puts it back)."""
    conversation = _get_or_404(request, conversation_id)
    message = _message_or_404(request, conversation, message_id, with_versions=True)
    if not request.htmx:
        return redirect(_back_to(message))
    (item,) = _message_items([message])
    return render(request, "conversations/_message.html", item)


def _edit_page(
    request: HtmxHttpRequest,
    conversation: Conversation,
    message: Message,
    form: EditForm,
    *,
    status: int = 200,
) -> HttpResponse:
    """The edit form: in place of the message (htmx), or a page of its own."""
    context = {"conversation": conversation, "message": message, "form": form}
    if request.htmx:
        return render(request, "conversations/_message_edit.html", context, status=status)
    return render(
        request,
        "conversations/edit_message.html",
        {**context, **_sidebar(request, current_id=conversation.id)},
        status=status,
    )


@waits
@login_required
@require_http_methods(["GET", "POST"])
def edit_message(
    request: HtmxHttpRequest, conversation_id, message_id
) -> HttpResponse | StreamingHttpResponse:
    """GET: the ``Edited message`` field, filled with the message's text; POST (``Save
    and send``): send the new text after the message's parent — a new version of it,
    which becomes the branch shown — and get the reply, streamed as the composer's."""
    conversation = _get_or_404(request, conversation_id)
    message = _message_or_404(request, conversation, message_id)
    if message.role != Role.USER:
        return _not_for_this_message(request, conversation, NOT_YOURS_TO_EDIT)
    if request.method == "GET":
        form = EditForm(initial={"content": message.content})
        return _edit_page(request, conversation, message, form)
    form = EditForm(request.POST)
    refusal, slot = _admit(
        request,
        form=form,
        refuse=lambda errors, status: _edit_page(
            request, conversation, message, form, status=status
        ),
    )
    if refusal is not None:
        return refusal
    # A first message has no parent: its new version is another first message.
    parent_id = message.parent_id or services.NO_PARENT
    content = form.cleaned_data["content"]
    # The new version carries what the message carried (its files among them): an edit
    # changes the words, not the picture they are about.
    attachments = list(message.attachments or ())
    if slot is not None:  # streaming
        events = services.stream_chat(
            user=request.user,
            message=content,
            conversation_id=conversation.id,
            parent_id=parent_id,
            attachments=attachments,
        )
        return _streamed(_stream(request, events, whole_list=True), slot=slot)
    try:
        services.chat(
            user=request.user,
            message=content,
            conversation_id=conversation.id,
            parent_id=parent_id,
            attachments=attachments,
        )
    except services.AssistantUnavailable:
        flash.error(request, UNAVAILABLE)
    except LimitReached as exc:
        flash.error(request, exc.detail)
    return redirect(reverse("chat", args=[conversation.id]))


@waits
@login_required
@require_POST
def regenerate(
    request: HtmxHttpRequest, conversation_id, message_id
) -> HttpResponse | StreamingHttpResponse:
    """``Regenerate``: a new version of the assistant's reply, made from the branch
    before it and shown (streamed to the script, as a send is)."""
    conversation = _get_or_404(request, conversation_id)
    message = _message_or_404(request, conversation, message_id)

    def refuse(errors: list[str], status: int) -> HttpResponse:
        return _chat_page(request, conversation, status=status, errors=errors)

    if message.role != Role.ASSISTANT or message.parent_id is None:
        return _not_for_this_message(request, conversation, NOT_A_REPLY)
    refusal, slot = _admit(request, form=None, refuse=refuse)
    if refusal is not None:
        return refusal
    if slot is not None:  # streaming
        events = services.stream_regenerate(user=request.user, message_id=message.id)
        return _streamed(
            _stream(request, events, whole_list=True, unavailable=REGENERATE_UNAVAILABLE),
            slot=slot,
        )
    try:
        services.regenerate(user=request.user, message_id=message.id)
    except ValidationError as exc:
        return refuse(exc.messages, 400)
    except Message.DoesNotExist:
        raise Http404("No such message.") from None
    except services.AssistantUnavailable as exc:
        flash.error(
            request,
            DELETED if exc.code == services.CONVERSATION_DELETED else REGENERATE_UNAVAILABLE,
        )
    except LimitReached as exc:
        flash.error(request, exc.detail)
    return redirect(reverse("chat", args=[conversation.id]))


@login_required
@require_POST
def show_version(request: HtmxHttpRequest, conversation_id, message_id) -> HttpResponse:
    """``Previous version`` / ``Next version``: show the branch through that version of
    a message (down its newest replies). htmx gets the new message list; a plain form
    goes back to the chat, at that message."""
    conversation = _get_or_404(request, conversation_id)
    message = _message_or_404(request, conversation, message_id)
    try:
        conversation = services.switch_branch(
            user=request.user, conversation_id=conversation.id, message_id=message.id
        )
    except (Conversation.DoesNotExist, ValidationError):
        # Deleted meanwhile, with its messages.
        raise Http404("No such message.") from None
    if request.htmx:
        response = render(
            request,
            "conversations/_messages.html",
            _message_list(request, conversation, cached=False),
        )
        response["HX-Trigger"] = CHANGED  # the sidebar's preview follows the branch
        return response
    return redirect(_back_to(message))


# --- /account/'s "Import chats" (templates/accounts/_account_import.html) -------------


@waits
@login_required
@require_POST
def import_chats(request: HtmxHttpRequest) -> HttpResponse:
    """The form's upload, through the API's service (services.bulk_import); the outcome
    or the job's progress is shown on /account/?import=<job id>."""
    upload = request.FILES.get("file")
    if upload is None:
        flash.error(request, "Choose an archive to import.")
        return redirect("account")
    try:
        bulk_import.check_upload_size(size=upload.size or 0)
        job = bulk_import.import_file_for_display(
            user=request.user, data=upload.read(), filename=upload.name or ""
        )
    except sources.BadUpload as exc:
        flash.error(request, exc.detail)
        return redirect("account")
    return redirect(f"{reverse('account')}?import={job.id}#import")


@login_required
@require_GET
def import_job(request: HtmxHttpRequest, job_id) -> HttpResponse:
    """The job's progress, polled by the page while it runs."""
    try:
        job = access.import_job_for(user=request.user, job_id=job_id)
    except ImportJob.DoesNotExist:
        raise Http404("No such import.") from None
    return render(request, "accounts/_import_job.html", {"import_job": job})
