"""What Numina keeps in Redis, under which keys, and how a write makes it stale.

Cached per user: the first page of the conversation list for the default filters, and a
conversation with its newest messages (the retrieve endpoint's default). Later the
model context uses the same two calls (``read`` and ``store``).

Versions, not deletes: every entry is stored with the version it was built at, next to
a version key per scope (a user's list, a conversation). A version is a change number
from PostgreSQL (``ChangeCounter`` / ``Conversation.change_seq``): it only ever grows,
so an evicted version key can never come back lower and revive an old entry. A reader
fetches the version and the entry in one MGET and uses the entry only when both agree.
After each commit the writer raises the version (``changed``).

When Redis cannot be reached for that raise, the invalidation is not lost: it is written
to PostgreSQL (``PendingInvalidation``) and this process stops trusting the cache until
it has replayed every pending invalidation into Redis; a periodic task replays them too,
for the processes that never noticed the outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.db import transaction

from numina import metrics

logger = logging.getLogger(__name__)

LIST = "list"  # a user's first page of conversations, default filters
CONVERSATION = "conv"  # a conversation with its default window of newest messages
VERSION_TTL = 7 * 24 * 3600  # far longer than any entry; an expired version only costs a miss

# Raise versions only upwards, atomically: two writers' after-commit hooks may run in
# either order, and a version that went down could match an entry built in between.
# Many keys in one round trip (a batch's conversations and their owner's list): KEYS[i]
# to ARGV[i], the TTL last.
_RAISE_MANY = """
local ttl = ARGV[#KEYS + 1]
for i, key in ipairs(KEYS) do
    local current = redis.call('GET', key)
    if (not current) or tonumber(ARGV[i]) > tonumber(current) then
        redis.call('SET', key, ARGV[i], 'EX', ttl)
    end
end
return 1
"""
# Keys per EVAL of _RAISE_MANY: Redis runs a script without serving anyone else, so a
# huge batch is raised in pieces of this many.
_RAISE_MANY_KEYS = 1000


def _count(kind: str, outcome: str, amount: int = 1) -> None:
    metrics.cache_requests.labels(kind=kind, outcome=outcome).inc(amount)


def _uses_redis() -> bool:
    from django_redis.cache import RedisCache

    return isinstance(caches["default"], RedisCache)  # `cache` is only a proxy


def _version_key(kind: str, scope_id: Any) -> str:
    return f"version:{kind}:{scope_id}"


def _entry_key(kind: str, scope_id: Any, variant: str) -> str:
    return f"entry:{kind}:{scope_id}:{variant}"


class _Breaker:
    """This process's trust in the cache: lost after a failed Redis call, regained only
    once every pending invalidation has been replayed into Redis.

    While Redis is unreachable, reads skip it altogether (retrying once a second) instead
    of paying a connect timeout on every request.
    """

    RETRY_SECONDS = 1.0

    def __init__(self) -> None:
        self.open = False
        self.retry_at = 0.0
        self.lock = threading.Lock()

    def trip(self) -> None:
        with self.lock:
            self.open = True
            self.retry_at = time.monotonic() + self.RETRY_SECONDS

    def trusted(self) -> bool:
        if not self.open:
            return True
        with self.lock:
            if time.monotonic() < self.retry_at:
                return False
            self.retry_at = time.monotonic() + self.RETRY_SECONDS
        if replay_pending():
            self.open = False
            return True
        return False


breaker = _Breaker()


def _client_call(method: str, *args, **kwargs) -> tuple[bool, Any]:
    """Call the cache, telling a failure apart from a miss (django-redis is configured to
    swallow connection errors, so its client is called directly here)."""
    if not _uses_redis():
        return True, getattr(cache, method)(*args, **kwargs)
    from django_redis.exceptions import ConnectionInterrupted
    from redis.exceptions import RedisError

    try:
        return True, getattr(cache.client, method)(*args, **kwargs)  # type: ignore[attr-defined]  # django-redis
    except (ConnectionInterrupted, RedisError):
        logger.warning("cache: Redis unreachable during %s; serving from PostgreSQL", method)
        breaker.trip()
        return False, None


@dataclass(frozen=True)
class Hit:
    value: Any


@dataclass(frozen=True)
class CacheableRead:
    """A read's shaped answer, and whether the cache gave it: True (a hit), False (built
    and kept), None (the read's cache policy keeps it out of the cache). Returned by the
    selectors whose policy sits beside them."""

    value: Any
    cached: bool | None


def read(*, kind: str, scope: str, variant: str = "") -> Hit | None:
    """The cached value when it is current, else None (a miss)."""
    if not breaker.trusted():
        _count(kind, "bypass")
        return None
    version_key, entry_key = _version_key(kind, scope), _entry_key(kind, scope, variant)
    ok, found = _client_call("get_many", [version_key, entry_key])
    if not ok:
        _count(kind, "bypass")
        return None
    version, entry = found.get(version_key), found.get(entry_key)
    if version is not None and entry is not None and entry[0] == version:
        _count(kind, "hit")
        return Hit(entry[1])
    _count(kind, "miss")
    return None


def store(*, kind: str, scope: str, version: int, value: Any, variant: str = "") -> None:
    """Keep a value built from data at ``version`` (read the version before the data)."""
    if not breaker.trusted():
        return
    ok, _ = _client_call(
        "set", _entry_key(kind, scope, variant), (version, value), settings.NUMINA_CACHE_TTL
    )
    if ok:
        # A version key that expired or was evicted comes back at the change number the
        # entry was built from, which PostgreSQL guarantees is not lower than before.
        _raise_version(kind=kind, scope=scope, version=version)


def _raise_version(*, kind: str, scope: str, version: int) -> bool:
    return _raise_versions({_version_key(kind, scope): version})


def list_scope(*, owner_id: Any) -> str:
    return str(owner_id)


def conversation_scope(*, owner_id: Any, conversation_id: Any) -> str:
    # The owner is part of every key: one user's entry can never answer another's request.
    return f"{owner_id}:{conversation_id}"


def _versions(changes: Iterable[tuple[Any, Any, int]]) -> dict[str, int]:
    """The version keys that ``(owner, conversation, change number)`` changes raise: each
    conversation's and its owner's list, each to the highest number given for it."""
    versions: dict[str, int] = {}
    for owner_id, conversation_id, change_seq in changes:
        scope = conversation_scope(owner_id=owner_id, conversation_id=conversation_id)
        for key in (
            _version_key(LIST, list_scope(owner_id=owner_id)),
            _version_key(CONVERSATION, scope),
        ):
            versions[key] = max(change_seq, versions.get(key, change_seq))
    return versions


def changed(*, owner_id: Any, conversation_id: Any, change_seq: int) -> None:
    """After a commit that changed a conversation (or deleted it): its entries and its
    owner's list are stale from now on. Called by the services' on_commit hook."""
    changed_many(owner_id=owner_id, changes=[(conversation_id, change_seq)])


def replay_pending(*, batch: int = 500) -> bool:
    """Raise the versions that writers could not raise while Redis was away; True when
    none are left. Run by a process before it trusts the cache again, and periodically."""
    from .models import PendingInvalidation

    while True:
        pending = list(PendingInvalidation.objects.order_by("id")[:batch])
        if not pending:
            return True
        changes = ((row.owner_id, row.conversation_id, row.change_seq) for row in pending)
        if not _raise_versions(_versions(changes)):
            return False
        PendingInvalidation.objects.filter(id__in=[row.id for row in pending]).delete()


def on_commit_changed(*, owner_id: Any, conversation_id: Any, change_seq: int) -> None:
    transaction.on_commit(
        lambda: changed(owner_id=owner_id, conversation_id=conversation_id, change_seq=change_seq)
    )


def _raise_versions(versions: dict[str, int]) -> bool:
    """``_raise_version`` for many version keys (``_version_key`` names), in as few round
    trips as ``_RAISE_MANY_KEYS`` allows; False when Redis failed on any of them."""
    if not _uses_redis():
        for key, version in versions.items():
            current = cache.get(key)
            if current is None or version > current:
                cache.set(key, version, VERSION_TTL)
        return True
    from django_redis import get_redis_connection
    from redis.exceptions import RedisError

    items = [(cache.make_key(key), version) for key, version in versions.items()]
    try:
        # register_script: EVALSHA, the script's text sent again only after a SCRIPT FLUSH.
        raise_many = get_redis_connection("default").register_script(_RAISE_MANY)
        for start in range(0, len(items), _RAISE_MANY_KEYS):
            chunk = items[start : start + _RAISE_MANY_KEYS]
            raise_many(keys=[key for key, _ in chunk], args=[*[v for _, v in chunk], VERSION_TTL])
    except RedisError:
        logger.warning("cache: could not raise %d versions", len(items))
        breaker.trip()
        return False
    return True


def changed_many(*, owner_id: Any, changes: Sequence[tuple[Any, int]]) -> None:
    """``changed`` for any number of conversations of one owner, each with its change
    number: one round trip to Redis for all of them (the legacy migration commits
    hundreds at a time); the list is raised to the newest number. If Redis cannot take
    it, each change is kept as a PendingInvalidation to replay."""
    if not changes:
        return
    versions = _versions((owner_id, conversation_id, seq) for conversation_id, seq in changes)
    if _raise_versions(versions):
        return
    from .models import PendingInvalidation

    PendingInvalidation.objects.bulk_create(
        [
            PendingInvalidation(
                owner_id=owner_id, conversation_id=conversation_id, change_seq=change_seq
            )
            for conversation_id, change_seq in changes
        ]
    )


def on_commit_changed_many(*, owner_id: Any, changes: Sequence[tuple[Any, int]]) -> None:
    changes = list(changes)
    transaction.on_commit(lambda: changed_many(owner_id=owner_id, changes=changes))


def cached(
    *, kind: str, scope: str, variant: str = "", build: Callable[[], tuple[int, Any]]
) -> tuple[Any, bool]:
    """The value for a scope from the cache, or built and kept: (value, was_cached).

    ``build`` returns (version, value) and must read the version before the data it
    shapes: an entry may then be stamped older than its data (and is simply never
    served), never newer.
    """
    hit = read(kind=kind, scope=scope, variant=variant)
    if hit is not None:
        return hit.value, True
    version, value = build()
    store(kind=kind, scope=scope, version=version, value=value, variant=variant)
    return value, False


# --- entries that never go stale ----------------------------------------------------------

RENDERED = "html"  # a message's sanitised HTML (rendering.py); messages never change


def _immutable_key(kind: str, entry_id: str) -> str:
    return f"entry:{kind}:{entry_id}"


def read_immutable(*, kind: str, ids: list[str]) -> dict[str, Any]:
    """The cached values of things that never change once made (no version to check), by
    id; the missing ones are absent. Empty while Redis is unreachable."""
    if not ids or not breaker.trusted():
        return {}
    keys = {_immutable_key(kind, entry_id): entry_id for entry_id in ids}
    ok, found = _client_call("get_many", list(keys))
    if not ok:
        _count(kind, "bypass")
        return {}
    _count(kind, "hit", len(found))
    _count(kind, "miss", len(keys) - len(found))
    return {keys[key]: value for key, value in found.items()}


def store_immutable(*, kind: str, values: dict[str, Any], timeout: int) -> None:
    """Keep values of things that never change (read back with ``read_immutable``)."""
    if values and breaker.trusted():
        _client_call(
            "set_many",
            {_immutable_key(kind, entry_id): value for entry_id, value in values.items()},
            timeout,
        )


# --- an owner gone for good ---------------------------------------------------------------

# Keys one SCAN round asks Redis for: many rounds, each short, never a blocking KEYS.
_SCAN_BATCH = 1000


def _owner_patterns(*, owner_id: Any) -> list[str]:
    """Every key of an owner's entries and versions, as SCAN patterns, built by the same
    functions that name the keys (a new kind is added here with them)."""
    every_conversation = conversation_scope(owner_id=owner_id, conversation_id="*")
    return [
        _version_key(LIST, list_scope(owner_id=owner_id)),
        _entry_key(LIST, list_scope(owner_id=owner_id), "*"),
        _version_key(CONVERSATION, every_conversation),
        _entry_key(CONVERSATION, every_conversation, "*"),
    ]


def forget_owner(*, owner_id: Any) -> bool:
    """Delete every cached entry and version of an owner whose account is gone (after the
    deletion committed); False when Redis could not be reached.

    Deleting, not raising versions: nobody can ever read these again (the owner is part of
    every key, and no token or session of theirs is left), so they are only someone's data
    left behind. A request of theirs still running at that moment may store one entry
    after this; it is as unreachable and expires with NUMINA_CACHE_TTL. The embedded
    local-memory cache lives in one process and goes with it (and by TTL): nothing to scan.
    """
    if not _uses_redis():
        return True
    for pattern in _owner_patterns(owner_id=owner_id):
        # django-redis: SCAN MATCH over the prefixed keys, deleting as it goes.
        ok, _ = _client_call("delete_pattern", pattern, itersize=_SCAN_BATCH)
        if not ok:
            logger.warning("cache: %s's entries are left to expire", owner_id)
            return False
    return True


def forget_immutable(*, kind: str, ids: list[str]) -> None:
    """Delete cached values of things that no longer exist (kept with ``store_immutable``)."""
    for start in range(0, len(ids), _SCAN_BATCH):
        batch = ids[start : start + _SCAN_BATCH]
        _client_call("delete_many", [_immutable_key(kind, entry_id) for entry_id in batch])
