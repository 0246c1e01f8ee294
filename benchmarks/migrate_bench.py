"""migrate_conversations benchmark: 100,000 messages across 2,000 keys of mixed layouts.

Prints messages per second and peak memory for a first run (everything new) and a
re-run (everything already present), next to this machine's raw COPY rate into a table
of the message table's shape, for comparison.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina \\
        python benchmarks/migrate_bench.py [--keys 2000] [--per-key 50]

It works in a database of its own (``bench_`` + the DATABASE_URL name, made anew each run)
and in NUMINA_BENCH_REDIS_URL (default redis://127.0.0.1:6379/13), which it FLUSHES.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
os.environ.setdefault("SECRET_KEY", "numina-benchmark-only")

import django

django.setup()

import redis  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402

from conversations.management.legacy_run import Options, run_migration  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402

LAYOUTS = ("memory", "session", "user-session", "langchain", "llamaindex")
WORDS = [
    "the",
    "model",
    "answered",
    "with",
    "a",
    "careful",
    "summary",
    "of",
    "the",
    "plan",
    "and",
    "asked",
    "which",
    "part",
    "of",
    "the",
    "migration",
    "should",
    "run",
    "first",
    "before",
    "anything",
    "else",
    "is",
    "changed",
    "in",
    "production",
    "today",
]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(8, 40)))


def _write_key(pipe, *, layout: str, n: int, per_key: int, username: str, rng) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    turns = [("user" if i % 2 == 0 else "assistant", _text(rng)) for i in range(per_key)]
    if layout == "memory":
        kinds = {"user": "HumanMessage", "assistant": "AIMessage"}
        items = [json.dumps({"type": kinds[r], "content": c}) for r, c in turns]
        pipe.rpush(f"conversation:messages:m{n}", *items)
        pipe.set(f"conversation:summary:m{n}", "a summary")
    elif layout == "langchain":
        kinds = {"user": "human", "assistant": "ai"}
        items = [
            json.dumps({"type": kinds[r], "data": {"content": c, "type": kinds[r], "id": None}})
            for r, c in turns
        ]
        pipe.lpush(f"message_store:l{n}", *items)  # LPUSH, as RedisChatMessageHistory
    elif layout == "llamaindex":
        items = [
            json.dumps(
                {"role": r, "additional_kwargs": {}, "blocks": [{"block_type": "text", "text": c}]}
            )
            for r, c in turns
        ]
        pipe.rpush(f"chat_history:{n}", *items)
    elif layout == "session":
        messages = [
            {"role": r, "content": c, "timestamp": (start + timedelta(seconds=i)).isoformat()}
            for i, (r, c) in enumerate(turns)
        ]
        pipe.set(f"conversation:s{n}", json.dumps({"sessionId": f"s{n}", "messages": messages}))
    else:
        epoch = int(start.timestamp() * 1000)
        messages = [
            {"role": r, "content": c, "timestamp": epoch + i * 1000}
            for i, (r, c) in enumerate(turns)
        ]
        value = {"userId": username, "conversationId": f"u{n}", "messages": messages}
        pipe.set(f"conversation:{username}:u{n}", json.dumps(value))


def fill(client, *, keys: int, per_key: int, username: str) -> None:
    client.flushdb()
    rng = random.Random(6)
    pipe = client.pipeline(transaction=False)
    for n in range(keys):
        _write_key(
            pipe, layout=LAYOUTS[n % len(LAYOUTS)], n=n, per_key=per_key, username=username, rng=rng
        )
        if n % 100 == 99:
            pipe.execute()
    pipe.execute()


def raw_copy_rate(rows: int, *, with_indexes: bool) -> float:
    """Rows per second of COPY alone into a table shaped like the message table.

    ``with_indexes`` copies the message table's indexes too, and its search trigger
    (the stored tsvector behind the full-text GIN index): the ceiling for any import
    into the real table.
    """
    table = "bench_raw_copy"
    like = "INCLUDING DEFAULTS" + (" INCLUDING INDEXES" if with_indexes else "")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} (LIKE conversations_message {like})")
        if with_indexes:
            cursor.execute(
                f"CREATE TRIGGER {table}_vector BEFORE INSERT ON {table} FOR EACH ROW EXECUTE "
                "FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.english', content)"
            )
    conversation_id = uuid.uuid4()
    owner_id = get_user_model().objects.get(username="bench").pk
    now = datetime.now(UTC)
    rng = random.Random(1)
    data = []
    parent = None
    for i in range(1, rows + 1):
        id_ = uuid.uuid4()
        data.append(
            (id_, conversation_id, owner_id, i, parent, i, "user", _text(rng), "[]", "{}", now)
        )
        parent = id_
    connection.ensure_connection()
    started = time.perf_counter()
    with connection.connection.transaction(), connection.connection.cursor() as cursor:
        columns = (
            "id, conversation_id, owner_id, seq, parent_id, depth, role, content, attachments,"
            " metadata, created_at"
        )
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    return rows / elapsed


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed_run(url: str, username: str, batch_size: int):
    started = time.perf_counter()
    report = run_migration(options=Options(redis_url=url, username=username, batch_size=batch_size))
    return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--per-key", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    url = os.environ.get("NUMINA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    if url.rstrip("/").endswith(("/0", ":6379")):
        sys.exit("NUMINA_BENCH_REDIS_URL must name a database of its own (not 0): it is flushed.")
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL server.")
    # A database of its own, apart from the test suite's test_ one.
    connection.settings_dict["TEST"]["NAME"] = f"bench_{connection.settings_dict['NAME']}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False, serialize=False)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    client = redis.Redis.from_url(url)
    fill(client, keys=args.keys, per_key=args.per_key, username=user.username)
    total = args.keys * args.per_key
    rss_before = peak_rss_mib()

    first, first_seconds = timed_run(url, user.username, args.batch_size)
    second, second_seconds = timed_run(url, user.username, args.batch_size)
    assert first.ok and first.messages_imported == total, first.as_text()
    assert second.messages_imported == 0
    assert second.messages_already_present == total
    assert Message.objects.filter(conversation__owner=user).count() == total
    # Each key one straight branch: depth is the place in it, the newest is current.
    assert not Message.objects.filter(conversation__owner=user).exclude(depth=F("seq")).exists()
    assert not (
        Conversation.objects.filter(owner=user)
        .exclude(current_message__seq=F("message_count"))
        .exists()
    )
    peak_after_runs = peak_rss_mib()  # before the COPY comparison allocates its rows
    copy_rate = raw_copy_rate(total, with_indexes=False)
    indexed_copy_rate = raw_copy_rate(total, with_indexes=True)
    client.flushdb()

    out = io.StringIO()
    print(f"keys: {args.keys} ({', '.join(LAYOUTS)}), messages: {total}", file=out)
    print(
        f"first run:  {first_seconds:6.2f} s  {total / first_seconds:10,.0f} messages/s",
        file=out,
    )
    print(
        f"re-run:     {second_seconds:6.2f} s  {total / second_seconds:10,.0f} messages/s "
        "(all already present)",
        file=out,
    )
    print(f"raw COPY:   {copy_rate:10,.0f} rows/s (same row shape, no index)", file=out)
    print(
        f"            {indexed_copy_rate:10,.0f} rows/s (with the message table's indexes, "
        "search trigger and GIN included)",
        file=out,
    )
    print(
        f"peak RSS:   {peak_after_runs:.0f} MiB (before the runs: {rss_before:.0f} MiB)",
        file=out,
    )
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
