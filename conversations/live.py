"""The live feed: after a change commits, the open event streams of its owner hear of it.

What travels is only "owner X has committed change N": a stream that hears it reads what
changed from PostgreSQL, from the point it last sent (``selectors.sync_changes``), so a
notice that is lost, late, repeated or out of order can delay an event but never drop or
repeat one. That is what lets a reconnect with ``Last-Event-ID`` (the same read) and the
live feed join with nothing missed or sent twice in between.

Across processes (web workers, Celery workers) the notices go through one Redis pub/sub
channel; each serving process keeps one subscriber and wakes its own listeners. With no
Redis configured (the embedded default: one process, tasks run in it) a notice goes
straight to this process's listeners.

While the subscriber is cut off from Redis, listeners are told (``Listener.degraded``) and
read on a short timer instead, and every listener is woken when it is back: changes
committed meanwhile still arrive, a few seconds late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from numina import metrics

logger = logging.getLogger(__name__)

CHANNEL = "numina:changes"
RECONNECT_SECONDS = 1.0


class Listener:
    """One open stream's doorbell: rung from any thread, awaited on its event loop."""

    def __init__(self, *, owner_id: uuid.UUID) -> None:
        self.owner_id = owner_id
        self._loop = asyncio.get_running_loop()
        self._rung = asyncio.Event()
        self._latest = 0  # the highest change number heard of
        self._reread = False  # told to read whatever it has heard (a reconnect to Redis)

    def ring(self, *, change_seq: int | None) -> None:
        """Note a committed change (None: changes may have been missed, read anyway);
        safe from any thread (writers run in worker threads)."""
        if change_seq is None:
            self._reread = True
        else:
            self._latest = max(self._latest, change_seq)
        with contextlib.suppress(RuntimeError):  # the loop has closed: the stream is gone
            self._loop.call_soon_threadsafe(self._rung.set)

    def has_news(self, *, after_change: int) -> bool:
        """Whether what it heard may be past ``after_change`` (what the stream has read)."""
        reread, self._reread = self._reread, False
        return reread or self._latest > after_change

    async def wait(self, *, timeout: float) -> bool:
        """Wait for a ring or ``timeout`` seconds; True if rung. The ring is used up, so
        one that comes while the stream is reading wakes the next wait at once."""
        try:
            await asyncio.wait_for(self._rung.wait(), timeout=timeout)
        except TimeoutError:
            return False
        self._rung.clear()
        return True

    @property
    def degraded(self) -> bool:
        """True while notices from other processes may be missed (Redis cut off)."""
        return not hub.connected


class Hub:
    """This process's listeners by owner, and its one Redis subscriber."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[uuid.UUID, set[Listener]] = {}
        self._subscriber: asyncio.Task | None = None
        self._subscriber_loop: asyncio.AbstractEventLoop | None = None
        self.connected = True

    def uses_redis(self) -> bool:
        return bool(settings.REDIS_URL)

    @contextlib.contextmanager
    def listening(self, *, owner_id: uuid.UUID) -> Iterator[Listener]:
        """A listener for the owner's changes while the block runs (on an event loop)."""
        listener = Listener(owner_id=owner_id)
        if self.uses_redis():
            self._ensure_subscriber()
        with self._lock:
            self._listeners.setdefault(owner_id, set()).add(listener)
        metrics.event_streams.inc()
        try:
            yield listener
        finally:
            metrics.event_streams.dec()
            with self._lock:
                listeners = self._listeners.get(owner_id)
                if listeners is not None:
                    listeners.discard(listener)
                    if not listeners:
                        del self._listeners[owner_id]

    def open_streams(self, *, owner_id: uuid.UUID) -> int:
        with self._lock:
            return len(self._listeners.get(owner_id, ()))

    def ring(self, *, owner_id: uuid.UUID, change_seq: int) -> None:
        """Ring this process's listeners of the owner."""
        with self._lock:
            listeners = list(self._listeners.get(owner_id, ()))
        for listener in listeners:
            listener.ring(change_seq=change_seq)

    def _ring_everyone(self) -> None:
        with self._lock:
            listeners = [listener for group in self._listeners.values() for listener in group]
        for listener in listeners:
            listener.ring(change_seq=None)

    def _ensure_subscriber(self) -> None:
        # One subscriber per serving event loop (a process has one; a test may start
        # servers one after another, each with its own loop).
        loop = asyncio.get_running_loop()
        if self._subscriber is None or self._subscriber.done() or self._subscriber_loop is not loop:
            self._subscriber_loop = loop
            self._subscriber = loop.create_task(self._subscribe(), name="numina-live-subscriber")

    async def _subscribe(self) -> None:
        """Hear every process's notices and ring the listeners here; reconnect for ever."""
        import redis.asyncio as redis

        while True:
            client = redis.from_url(settings.REDIS_URL, health_check_interval=30)
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.connected = True
                    # Changes committed while cut off were not heard: every stream reads.
                    self._ring_everyone()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._heard(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                self.connected = False
                logger.warning("Live feed cut off from Redis; retrying", exc_info=True)
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _heard(self, data: bytes) -> None:
        try:
            owner, _, change = data.decode().partition(":")
            owner_id, change_seq = uuid.UUID(owner), int(change)
        except (ValueError, UnicodeDecodeError):
            logger.warning("Ignored a malformed live notice %r", data[:100])
            return
        self.ring(owner_id=owner_id, change_seq=change_seq)

    async def close(self) -> None:
        """Stop the subscriber (the server is shutting down)."""
        if self._subscriber is not None:
            self._subscriber.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._subscriber
            self._subscriber = None


hub = Hub()


def committed(*, owner_id: Any, change_seq: int) -> None:
    """Tell every open stream of the owner, in any process, that a change committed.
    Called after commit only (services.next_change_seq's hook). A Redis that is down
    is logged, never raised: the write has committed, and the streams catch up."""
    owner_id = owner_id if isinstance(owner_id, uuid.UUID) else uuid.UUID(str(owner_id))
    if not hub.uses_redis():
        hub.ring(owner_id=owner_id, change_seq=change_seq)
        return
    from django_redis import get_redis_connection

    try:
        get_redis_connection("default").publish(CHANNEL, f"{owner_id}:{change_seq}")
    except Exception:
        logger.warning("Could not publish change %s of %s", change_seq, owner_id, exc_info=True)
