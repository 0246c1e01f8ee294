"""Whose bucket a request fills: the client address every throttle uses, DRF's
throttles keyed by it, and the replies-per-user throttle of the API and the browser.

``X-Forwarded-For`` is whatever the client wrote unless a proxy we run wrote it, so it is
believed only for the ``NUM_PROXIES`` proxies in front of the web (settings). With 0, the
default, the client address is the socket's (``REMOTE_ADDR``) and a fresh header per
request buys no fresh bucket.

Every throttle here counts through ``RateThrottle``: DRF's rate throttles, with the
bucket kept by the ``limits`` library instead of DRF's history list (see the class).
"""

import functools
import logging
import time

# Imported whole before any request thread runs: limits reads redis.__version__ when it
# first makes a Redis storage, and a module another thread is still importing has none
# yet ("minimum version 3.0 ... Found version: 0.0.0", seen under the threaded server).
import redis  # noqa: F401
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from rest_framework import exceptions, throttling

logger = logging.getLogger(__name__)
# The buckets' keys in Redis, beside the cache's (``numina:``) in the same database.
_KEY_PREFIX = "numina-throttle"


@functools.cache  # at most one per process; a second made in a race is only dropped
def _limiter() -> MovingWindowRateLimiter:
    """This process's limiter: on the cache's Redis, or in memory without one (the
    embedded default, one process). Made on first use, so each worker makes its own
    connections after the fork."""
    storage: Storage
    if settings.REDIS_URL:
        storage = RedisStorage(
            settings.REDIS_URL,
            key_prefix=_KEY_PREFIX,
            wrap_exceptions=True,
            # Fail fast, as the cache does (settings): a throttle is no reason to wait.
            socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
            socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT,
        )
    else:
        storage = MemoryStorage()
    return MovingWindowRateLimiter(storage)


def reset_buckets() -> None:
    """Empty every bucket (the tests, between tests: Redis is flushed with the cache, the
    in-memory storage is not)."""
    _limiter().storage.reset()


class RateThrottle(throttling.SimpleRateThrottle):
    """DRF's SimpleRateThrottle (its rates, scopes and keys), counting with the ``limits``
    library's moving window.

    DRF keeps each bucket as a pickled list of every request's time, read and written
    whole by every request: the work per request grows with the rate (1,200 floats at
    NUMINA_THROTTLE_USER's default, more under a benchmark's rate) and was the largest
    single cost of a cached read (issue 19). The moving window counts exactly as DRF's
    list does (at most N in any ``duration`` seconds), in one Redis call whose cost does
    not depend on the bucket's size from Python's side. Redis out of reach lets the
    request through, as the cache-backed bucket did (django-redis ignores its errors).
    """

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        return self.take(key=self.key, weight=1)

    def take(self, *, key: str, weight: int) -> bool:
        """Count ``weight`` requests in the bucket ``key``; False (and nothing counted)
        when they do not fit."""
        num_requests, duration = self.parse_rate(self.rate)
        if num_requests is None or duration is None:
            return True  # no rate: no bucket
        self._item = RateLimitItemPerSecond(num_requests, duration)
        self._bucket = key
        try:
            return _limiter().hit(self._item, key, cost=weight)
        except StorageError:
            logger.warning("throttle: Redis unreachable; %s not counted", self.scope)
            return True

    def wait(self) -> float | None:
        try:
            stats = _limiter().get_window_stats(self._item, self._bucket)
        except StorageError:
            return None
        return max(0.0, stats.reset_time - time.time())


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


class ClientAddressMixin:  # before RateThrottle in the bases
    """DRF's throttles, keyed by ``client_address`` instead of their own reading of
    X-Forwarded-For."""

    def get_ident(self, request) -> str:
        return client_address(request)


class AnonRateThrottle(ClientAddressMixin, throttling.AnonRateThrottle, RateThrottle):
    pass


class UserRateThrottle(ClientAddressMixin, throttling.UserRateThrottle, RateThrottle):
    pass


class ScopedRateThrottle(ClientAddressMixin, throttling.ScopedRateThrottle, RateThrottle):
    pass


class ChatRateThrottle(UserRateThrottle):
    """Replies per user: NUMINA_THROTTLE_CHAT, read when the request comes in. The chat
    endpoint and the browser's chat form fill the same bucket."""

    scope = "chat"

    def get_rate(self) -> str:
        return settings.NUMINA_THROTTLE_CHAT


class ShareLookupThrottle(RateThrottle):
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
        if not self.take(key=self.key, weight=weight):
            return False
        if unreadable is not None:
            raise unreadable
        return True
