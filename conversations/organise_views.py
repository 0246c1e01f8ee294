"""The sidebar's organising actions (UI.md): a chat's ``Tags`` field in its actions menu,
and ``Select`` with ``Archive selected``, ``Delete selected`` and ``Tag selected``.

Plain forms that work without JavaScript (POST, then back where the form was); with htmx
a chat's tags answer with its sidebar entry, and a bulk action with the whole list as it
was (same tab, filter and search), no longer selecting, and ``conversationsChanged``.
Each chat ticked goes through services/bulk.py, the API's bulk door: one change each.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from . import access, services
from .forms import BulkForm, TagsForm
from .services import bulk
from .views import CHANGED, HtmxHttpRequest, _act, _chat_item, _get_or_404, _next_url, _sidebar

NONE_CHOSEN = "Choose the chats first: tick them, then pick an action."


def _form_errors(form) -> list[str]:
    return [str(message) for messages in form.errors.values() for message in messages]


@login_required
@require_POST
def set_tags(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """Save the comma-separated ``Tags`` of one chat (an empty field clears them)."""
    conversation = _get_or_404(request, conversation_id)
    form = TagsForm(request.POST)
    if form.is_valid():
        _act(services.set_tags, request, conversation_id, tags=form.cleaned_data["tags"])
        if not request.htmx:
            return redirect(_next_url(request, reverse("chat", args=[conversation_id])))
        response = _chat_item(request, _get_or_404(request, conversation_id))
        response["HX-Trigger"] = CHANGED
        return response
    errors = _form_errors(form)
    if not request.htmx:
        for error in errors:
            flash.error(request, error)
        return redirect(_next_url(request, reverse("chat", args=[conversation_id])))
    # The entry again, its menu open on the refused field and the reason beside it.
    return render(
        request,
        "conversations/_chat_item.html",
        {
            "conversation": conversation,
            "tags_error": " ".join(errors),
            "tags_value": request.POST.get("tags", ""),
        },
    )


def _list_state(post: QueryDict) -> QueryDict:
    """The list the form was on (its tab, filter and search), as a query string's."""
    state = QueryDict(mutable=True)
    for name in ("q", "tag", "archived"):
        value = post.get(name)
        if value:
            state[name] = value
    return state


@login_required
@require_POST
def bulk_action(request: HtmxHttpRequest) -> HttpResponse:
    """One action on every chat ticked; the list comes back as it was, selection over
    (still selecting, with the reason, when nothing was done)."""
    form = BulkForm(request.POST)
    ids = [chat_id for raw in request.POST.getlist("ids") if (chat_id := access.as_uuid(raw))]
    errors: list[str] = []
    if not ids:
        errors = [NONE_CHOSEN]
    elif len(ids) > settings.NUMINA_BULK_MAX_IDS:
        errors = [f"Choose at most {settings.NUMINA_BULK_MAX_IDS} chats at a time."]
    elif not form.is_valid():
        errors = _form_errors(form)
    else:
        action = form.cleaned_data["action"]
        results = bulk.apply_to_each(
            user=request.user,
            ids=ids,
            action=action,
            tags=form.cleaned_data["tags"] if action in bulk.TAG_ACTIONS else None,
        )
        refused = [result for result in results if result.outcome == "invalid"]
        if refused:
            reasons = {m for r in refused for ms in (r.errors or {}).values() for m in ms}
            errors = [f"{len(refused)} of the chats could not be changed: {' '.join(reasons)}"]
    state = _list_state(request.POST)
    if request.htmx:
        response = render(
            request,
            "conversations/_chat_list.html",
            _sidebar(request, params=state, selecting=bool(errors), bulk_errors=errors),
        )
        response["HX-Trigger"] = CHANGED
        return response
    for error in errors:
        flash.error(request, error)
    if errors:
        state["select"] = "1"
    # Back to the page the form was on (its path: the chat open), with the list as it was.
    page = _next_url(request, reverse("home")).split("?", 1)[0]
    return redirect(f"{page}?{state.urlencode()}" if state else page)
