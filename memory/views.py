"""The browser's memory page (UI.md: ``/memory/``, ``Memory``, ``Edit memory``,
``Delete memory``, ``Use memory``).

Plain forms that work without JavaScript (POST, then back to the page, or the page again
with the error); with htmx the same URLs answer with the item's row (added, edited) or an
empty one (deleted), as the trash page does. Every write is a service call
(memory/services.py); another user's item is a 404, as everywhere.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import signed_in_user
from conversations import access
from conversations.views import HtmxHttpRequest, _sidebar

from . import selectors, services
from .forms import MemoryItemForm, MemorySwitchForm
from .models import MemoryItem


def _item_or_404(request: HtmxHttpRequest, item_id) -> MemoryItem:
    try:
        return access.memory_item_for(user=request.user, item_id=item_id)
    except MemoryItem.DoesNotExist:
        raise Http404("No such memory.") from None


def _errors(exc: ValidationError) -> list[str]:
    return [message for messages in exc.message_dict.values() for message in messages]


def _page(request: HtmxHttpRequest, *, form=None, status=200) -> HttpResponse:
    page = selectors.memory_page(
        user=request.user, cursor=request.GET.get("cursor"), size=settings.NUMINA_PAGE_SIZE
    )
    return render(
        request,
        "memory/memory.html",
        {
            "memory": page,
            "form": form or MemoryItemForm(),
            "memory_enabled": signed_in_user(request).memory_enabled,
            "max_items": settings.NUMINA_MEMORY_MAX_ITEMS,
            **_sidebar(request),
        },
        status=status,
    )


@login_required
@require_GET
def memory_list(request: HtmxHttpRequest) -> HttpResponse:
    """What Numina keeps about the user, newest first, a page at a time (``?cursor=``)."""
    return _page(request)


@login_required
@require_POST
def add(request: HtmxHttpRequest) -> HttpResponse:
    form = MemoryItemForm(request.POST)
    if form.is_valid():
        try:
            item = services.create_item(
                user=signed_in_user(request),
                kind=form.cleaned_data["kind"],
                content=form.cleaned_data["content"],
            )
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            if request.htmx:
                return render(request, "memory/_memory_item.html", {"item": item})
            flash.success(request, "Kept in memory.")
            return redirect(reverse("memory"))
    if request.htmx:
        # The add form again with its error, swapped in for itself.
        return render(request, "memory/_memory_add.html", {"form": form}, status=400)
    return _page(request, form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HtmxHttpRequest, item_id) -> HttpResponse:
    """GET: the item's edit form (its own page without JavaScript, in place with htmx);
    POST: save it (the item is the user's own from then on)."""
    item = _item_or_404(request, item_id)
    if request.method == "GET":
        form = MemoryItemForm(initial={"kind": item.kind, "content": item.content})
        template = "memory/_memory_edit.html" if request.htmx else "memory/edit.html"
        return render(request, template, {"item": item, "form": form, **_sidebar(request)})
    form = MemoryItemForm(request.POST)
    if form.is_valid():
        try:
            item = services.update_item(
                user=signed_in_user(request),
                item_id=item.id,
                kind=form.cleaned_data["kind"],
                content=form.cleaned_data["content"],
            )
        except MemoryItem.DoesNotExist:  # deleted meanwhile, in another tab
            raise Http404("No such memory.") from None
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            if request.htmx:
                return render(request, "memory/_memory_item.html", {"item": item})
            flash.success(request, "Memory updated.")
            return redirect(reverse("memory"))
    template = "memory/_memory_edit.html" if request.htmx else "memory/edit.html"
    return render(request, template, {"item": item, "form": form, **_sidebar(request)}, status=400)


@login_required
@require_POST
def delete(request: HtmxHttpRequest, item_id) -> HttpResponse:
    item = _item_or_404(request, item_id)
    try:
        services.delete_item(user=signed_in_user(request), item_id=item.id)
    except MemoryItem.DoesNotExist:
        raise Http404("No such memory.") from None
    if request.htmx:
        return HttpResponse(status=200)  # an empty body: the row it replaces goes
    flash.success(request, "Deleted from memory.")
    return redirect(reverse("memory"))


@login_required
@require_POST
def switch(request: HtmxHttpRequest) -> HttpResponse:
    """The ``Use memory`` checkbox (an unchecked box sends nothing: off)."""
    form = MemorySwitchForm(request.POST)
    form.is_valid()  # a BooleanField that is not required is always valid
    enabled = bool(form.cleaned_data.get("memory_enabled"))
    services.set_memory_enabled(user=signed_in_user(request), enabled=enabled)
    if request.htmx:
        return render(request, "memory/_memory_switch.html", {"memory_enabled": enabled})
    flash.success(request, "Memory is on." if enabled else "Memory is off.")
    return redirect(reverse("memory"))
