"""Reading the legacy Redis: SCAN, one atomic snapshot per key, compare-and-delete.

Each key is read by one Lua script (TYPE, then LRANGE or GET, and its companion keys),
so a writer that pushes while we read, or a key that expires, is seen either wholly
before or wholly after: never half. Scripts for a batch of keys go in one pipeline.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterator, Sequence

import redis

from . import registry
from .base import Snapshot

_READ = """
local t = redis.call('TYPE', KEYS[1])['ok']
local v = false
if t == 'list' then v = redis.call('LRANGE', KEYS[1], 0, -1)
elseif t == 'string' then v = redis.call('GET', KEYS[1]) end
local companions = {}
for i = 2, #KEYS do
  if redis.call('TYPE', KEYS[i])['ok'] == 'string' then
    companions[i - 1] = redis.call('GET', KEYS[i])
  else
    companions[i - 1] = false
  end
end
return {t, v, companions}
"""

# Deletes the key and its companions only when they still hash to what was imported:
# anything pushed, trimmed or rewritten since the read keeps the key (the next run
# imports the difference).
_DELETE_IF_UNCHANGED = """
local parts = {}
for i, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key)['ok']
  local items = {}
  if t == 'list' then items = redis.call('LRANGE', key, 0, -1)
  elseif t == 'string' then items = {redis.call('GET', key)} end
  if i > 1 and t ~= 'string' then t = 'none'; items = {} end
  parts[#parts + 1] = t .. '#' .. #items
  for _, item in ipairs(items) do parts[#parts + 1] = #item .. ':' .. item end
end
if redis.sha1hex(table.concat(parts, '\\n')) ~= ARGV[1] then return 0 end
redis.call('DEL', unpack(KEYS))
return 1
"""


class LegacyRedis:
    """One legacy Redis database, as the migration reads it."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = int(self.client.connection_pool.connection_kwargs.get("db") or 0)
        self._read = self.client.register_script(_READ)
        self._delete = self.client.register_script(_DELETE_IF_UNCHANGED)

    def scan(self, patterns: Sequence[str], *, count: int) -> Iterator[bytes]:
        """Every key matching any pattern, once per pattern that first matches it.

        SCAN (never KEYS) with the server's MATCH; a key that an earlier pattern already
        matched is left out, so overlapping patterns need no memory of seen keys.
        """
        for index, pattern in enumerate(patterns):
            earlier = patterns[:index]
            for key in self.client.scan_iter(match=pattern, count=count):
                name = key.decode("utf-8", "backslashreplace")
                if not any(fnmatch.fnmatchcase(name, other) for other in earlier):
                    yield key

    def snapshots(self, keys: Sequence[bytes]) -> list[Snapshot]:
        pipe = self.client.pipeline(transaction=False)
        companions = []
        for key in keys:
            names = registry.companion_keys(key.decode("utf-8", "backslashreplace"))
            companions.append(names)
            self._read(keys=[key, *names], client=pipe)
        results = pipe.execute()
        snapshots = []
        for key, names, (redis_type, value, companion_values) in zip(
            keys, companions, results, strict=True
        ):
            snapshots.append(
                Snapshot(
                    raw_key=key,
                    db=self.db,
                    redis_type=redis_type.decode() if isinstance(redis_type, bytes) else redis_type,
                    value=value,
                    companions=dict(zip(names, companion_values, strict=True)),
                )
            )
        return snapshots

    def delete_if_unchanged(self, snapshot: Snapshot) -> bool:
        keys: list[bytes | str] = [snapshot.raw_key, *snapshot.companions]
        return bool(self._delete(keys=keys, args=[digest(snapshot)]))


def digest(snapshot: Snapshot) -> str:
    """The hash _DELETE_IF_UNCHANGED computes, of the key and companions as read."""
    parts = []
    if isinstance(snapshot.value, list):
        items = snapshot.value
    else:
        items = [] if snapshot.value is None else [snapshot.value]
    parts.append(f"{snapshot.redis_type}#{len(items)}".encode())
    parts += [f"{len(item)}:".encode() + item for item in items]
    for value in snapshot.companions.values():
        parts.append(b"none#0" if value is None else b"string#1")
        if value is not None:
            parts.append(f"{len(value)}:".encode() + value)
    return hashlib.sha1(b"\n".join(parts), usedforsecurity=False).hexdigest()
