"""/s/<token>/: a shared chat, read-only, for anyone with the link (no sign-in).

The page shows the snapshot and nothing else: no owner's name, no sidebar of other
chats, no composer, no message tools. Every answer of it (the 404 and the 429 too) says
``noindex`` (header and meta), is never cached (a revoked link must be gone at once,
from any cache), and sends no referrer (the token is in the address). A token that
opens nothing — never made, revoked, one character changed, its chat in the trash or
deleted, its owner gone — gets one and the same 404 page. Lookups are throttled per
client address, in the same bucket as the JSON (api/sharing.py).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from numina.throttling import ShareLookupThrottle

from . import rendering
from .models import ShareLink
from .selectors import sharing

NOINDEX = "noindex"


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = NOINDEX
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_GET
def shared(request: HttpRequest, token: str) -> HttpResponse:
    throttle = ShareLookupThrottle()
    # DRF's rate throttles read only META and the scope: a Django request has them.
    if not throttle.allow_request(request, None):
        seconds = max(1, round(throttle.wait() or 1))
        response = render(
            request, "conversations/shared_missing.html", {"seconds": seconds}, status=429
        )
        response["Retry-After"] = str(seconds)
        return _private(response)
    try:
        snapshot = sharing.shared_snapshot(token=token)
    except ShareLink.DoesNotExist:
        return _private(render(request, "conversations/shared_missing.html", status=404))
    items = [
        {"message": message, "message_html": html}
        for message, html in zip(
            snapshot.messages,
            rendering.render_messages(messages=snapshot.messages),
            strict=True,
        )
    ]
    return _private(
        render(request, "conversations/shared.html", {"snapshot": snapshot, "items": items})
    )
