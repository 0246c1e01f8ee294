"""Whose bucket a request fills: the client address every throttle uses, DRF's
throttles keyed by it, and the replies-per-user throttle of the API and the browser.

``X-Forwarded-For`` is whatever the client wrote unless a proxy we run wrote it, so it is
believed only for the ``NUM_PROXIES`` proxies in front of the web (settings). With 0, the
default, the client address is the socket's (``REMOTE_ADDR``) and a fresh header per
request buys no fresh bucket.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from rest_framework import exceptions, throttling


def client_address(request: HttpRequest) -> str:
    """The address a request came from, as far as our own proxies vouch for it.

    Each of our ``NUM_PROXIES`` proxies appends the address it saw to X-Forwarded-For, so
    the entry that many places from the right is the one the outermost proxy saw; anything
    further left was written by the client and proves nothing.
    """
    remote_addr = request.META.get("REMOTE_ADDR", "")
    num_proxies = settings.NUM_PROXIES
    forwarded_for = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if num_proxies <= 0 or not forwarded_for:
        return remote_addr
    addresses = [address.strip() for address in forwarded_for.split(",") if address.strip()]
    if not addresses:
        return remote_addr
    return addresses[-min(num_proxies, len(addresses))]


class ClientAddressMixin:
    """DRF's throttles, keyed by ``client_address`` instead of their own reading of
    X-Forwarded-For."""

    def get_ident(self, request) -> str:
        return client_address(request)


class AnonRateThrottle(ClientAddressMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(ClientAddressMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(ClientAddressMixin, throttling.ScopedRateThrottle):
    pass


class ChatRateThrottle(UserRateThrottle):
    """Replies per user: NUMINA_THROTTLE_CHAT, read when the request comes in. The chat
    endpoint and the browser's chat form fill the same bucket."""

    scope = "chat"

    def get_rate(self) -> str:
        return settings.NUMINA_THROTTLE_CHAT


class ShareLookupThrottle(throttling.SimpleRateThrottle):
    """Share link lookups per client address (NUMINA_SHARE_RATE, read per request), signed
    in or not: the JSON and the page fill one bucket, so guessing tokens is slow from any
    door (and hopeless anyway: a token has 256 bits)."""

    scope = "share"

    def get_rate(self) -> str:
        return settings.NUMINA_SHARE_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


# A body the view cannot weigh: not JSON, not a JSON content type, over the size limit.
_UNREADABLE = (exceptions.ParseError, exceptions.UnsupportedMediaType, RequestDataTooBig)


class OperationsRateThrottle(UserRateThrottle):
    """The user rate, in the same bucket as UserRateThrottle, where one request weighs
    what its view's ``throttle_weight(request)`` says (at most the whole rate): the
    batch endpoint counts each of its operations, so 100 writes cost 100 whether they
    come one per request or in one batch.

    A body it cannot weigh (not JSON, too large) counts as one request and then answers
    its error, so malformed bodies are not a way around the rate either.
    """

    def allow_request(self, request, view) -> bool:
        num_requests, duration = self.parse_rate(self.rate)
        if num_requests is None or duration is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        unreadable: Exception | None = None
        try:
            weight = view.throttle_weight(request)
        except _UNREADABLE as exc:
            weight, unreadable = 1, exc
        weight = max(1, min(weight, num_requests))
        # DRF's SimpleRateThrottle.allow_request, with ``weight`` entries instead of one.
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - duration:
            self.history.pop()
        if len(self.history) + weight > num_requests:
            return self.throttle_failure()
        self.history[:0] = [self.now] * weight
        self.cache.set(self.key, self.history, duration)
        if unreadable is not None:
            raise unreadable
        return True
