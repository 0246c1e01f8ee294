"""How many long responses one user holds at once: chat reply streams and exports.

Each such response keeps one of the web's request threads for as long as it runs, so a
user may hold at most ``NUMINA_MAX_STREAMS_PER_USER`` of them (0: no cap). The slots are
counted in Redis, shared by every web process: a sorted set per user whose members are
the open streams, scored by when each slot expires. A slot is given back when its
response is closed (the stream ended, failed, or the client went away); one a crashed
worker never gave back expires ``NUMINA_STREAM_SLOT_TTL`` seconds after the stream last
moved, so nobody stays locked out. While Redis cannot be reached the cap is not applied
(logged): a cache outage must not lock users out of chatting.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator

from django.conf import settings

from .limits import LimitReached

logger = logging.getLogger(__name__)

TOO_MANY_DETAIL = (
    "You already have the most replies and downloads running at once. Let one finish, "
    "then try again."
)
# How soon a refused client may try again: streams are usually done within seconds.
RETRY_AFTER_SECONDS = 5

# Drop expired slots, and take one only while fewer than the cap are held: one script,
# so two requests at once cannot both take the last slot.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
    return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


class TooManyStreams(LimitReached):
    code = "too_many_streams"


def slots_key(user_id) -> str:
    return f"streams:{user_id}"


def _redis():
    """The Redis client of the default cache, or None when the cache is not Redis."""
    from django.core.cache import caches
    from django_redis.cache import RedisCache

    cache = caches["default"]
    return cache.client.get_client(write=True) if isinstance(cache, RedisCache) else None


class StreamSlot:
    """One held slot. ``release`` is idempotent; ``keep_alive`` pushes its expiry on."""

    def __init__(self, *, user_id, member: str | None) -> None:
        self._key = slots_key(user_id)
        # None: no slot is held in Redis (no cap, no Redis, or Redis was down).
        self._member = member
        self._renewed_at = time.monotonic()

    def keep_alive(self) -> None:
        ttl = settings.NUMINA_STREAM_SLOT_TTL
        # A few renewals per TTL, not one Redis call per chunk.
        if self._member is None or time.monotonic() - self._renewed_at < ttl / 5:
            return
        self._renewed_at = time.monotonic()
        self._call("zadd", self._key, {self._member: time.time() + ttl}, xx=True)
        self._call("expire", self._key, ttl)

    def release(self) -> None:
        if self._member is None:
            return
        member, self._member = self._member, None
        self._call("zrem", self._key, member)

    def _call(self, method: str, *args, **kwargs) -> None:
        from redis.exceptions import RedisError

        try:
            client = _redis()
            if client is not None:
                getattr(client, method)(*args, **kwargs)
        except RedisError:
            # The slot then expires on its own.
            logger.warning("streams: Redis unreachable during %s", method, exc_info=True)


def acquire_stream_slot(*, user) -> StreamSlot:
    """A slot for one more long response, or ``TooManyStreams`` when the user holds all."""
    from redis.exceptions import RedisError

    cap = settings.NUMINA_MAX_STREAMS_PER_USER
    if not cap:
        return StreamSlot(user_id=user.pk, member=None)
    ttl = settings.NUMINA_STREAM_SLOT_TTL
    member = uuid.uuid4().hex
    now = time.time()
    try:
        client = _redis()
        if client is None:
            # The embedded default (local-memory cache): one machine, no shared count.
            return StreamSlot(user_id=user.pk, member=None)
        taken = client.eval(_ACQUIRE, 1, slots_key(user.pk), now, cap, now + ttl, member, ttl)
    except RedisError:
        logger.warning("streams: Redis unreachable, stream cap not applied", exc_info=True)
        return StreamSlot(user_id=user.pk, member=None)
    if not taken:
        raise TooManyStreams(detail=TOO_MANY_DETAIL, retry_after=RETRY_AFTER_SECONDS)
    return StreamSlot(user_id=user.pk, member=member)


def forget_slots(*, user_id) -> None:
    """Drop a deleted user's slot count: nobody is left to give the slots back (their
    open streams end without them, and a late release of a gone key is harmless)."""
    from redis.exceptions import RedisError

    try:
        client = _redis()
        if client is not None:
            client.delete(slots_key(user_id))
    except RedisError:
        # The key expires NUMINA_STREAM_SLOT_TTL after its last slot moved.
        logger.warning("streams: Redis unreachable, slots of %s left to expire", user_id)


class HeldStream:
    """A response body that holds a stream slot until it is closed.

    Django closes a streaming response's content when the response is done with, whether
    it was read to the end, failed midway or the client disconnected; ``close`` gives
    the slot back then, even when the body was never iterated.
    """

    def __init__(self, chunks: Iterable, *, slot: StreamSlot) -> None:
        self._chunks = chunks
        self._slot = slot

    def __iter__(self) -> Iterator:
        try:
            for chunk in self._chunks:
                self._slot.keep_alive()
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self._slot.release()
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
