"""The browser's trash (UI.md: ``/trash/``, ``Restore``, ``Delete forever``).

Plain forms that work without JavaScript (POST, then back to the trash page); with htmx
the same URLs answer with an empty row (swapped in for the chat's row) and the
``conversationsChanged`` trigger, on which the sidebar reloads itself. ``Delete
forever`` asks first: without JavaScript on a confirmation page (its GET), with htmx in
the browser's own dialog. Only what is in the user's trash is found here: any other id
is a 404, as everywhere.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import access, services
from .models import Conversation
from .selectors import trash
from .views import CHANGED, HtmxHttpRequest, _sidebar


def _trashed_or_404(request: HtmxHttpRequest, conversation_id) -> Conversation:
    try:
        return access.trashed_conversation_for(user=request.user, conversation_id=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404("No such chat in the trash.") from None


def _back_to_trash(request: HtmxHttpRequest, *, notice: str) -> HttpResponse:
    if request.htmx:
        # An empty body: the row it replaces disappears; the sidebar reloads.
        return HttpResponse(status=200, headers={"HX-Trigger": CHANGED})
    flash.success(request, notice)
    return redirect(reverse("trash"))


@login_required
@require_GET
def trash_list(request: HtmxHttpRequest) -> HttpResponse:
    """The trashed chats, newest first, a page at a time (``?cursor=``)."""
    page = trash.trash_page(
        user=request.user, cursor=request.GET.get("cursor"), size=settings.NUMINA_PAGE_SIZE
    )
    return render(
        request,
        "conversations/trash.html",
        {"trash": page, "trash_days": settings.NUMINA_TRASH_DAYS, **_sidebar(request)},
    )


@login_required
@require_POST
def restore(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    conversation = _trashed_or_404(request, conversation_id)
    try:
        services.restore_conversation(user=request.user, conversation_id=conversation.id)
    except Conversation.DoesNotExist:  # restored or deleted meanwhile, in another tab
        raise Http404("No such chat in the trash.") from None
    return _back_to_trash(request, notice=f"“{conversation.display_title}” is back in your chats.")


@login_required
@require_http_methods(["GET", "POST"])
def delete_forever(request: HtmxHttpRequest, conversation_id) -> HttpResponse:
    """GET: the confirmation page (without JavaScript); POST: delete for good."""
    conversation = _trashed_or_404(request, conversation_id)
    if request.method == "GET":
        return render(
            request,
            "conversations/delete_forever.html",
            {"conversation": conversation, **_sidebar(request)},
        )
    try:
        services.delete_forever(user=request.user, conversation_id=conversation.id)
    except Conversation.DoesNotExist:
        raise Http404("No such chat in the trash.") from None
    return _back_to_trash(request, notice=f"“{conversation.display_title}” was deleted for good.")
