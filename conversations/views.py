"""The browser UI (server-rendered templates + htmx)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    conversations = selectors.list_conversations(user=request.user)[:50]
    return render(request, "conversations/home.html", {"conversations": conversations})
