"""migrate_conversations benchmark: the migration beside a plain COPY of the same rows.

In one run: legacy keys of every layout are written to Redis; the floor is one COPY of
exactly the rows the migration will write (read through the same layout readers) into
the real, indexed message table (its search trigger and GIN index included), timed
before and after the migration (the mean is the floor, the two show the drift); then
the migration (``run_migration``, as the command runs it) and a re-run, each in a child
process of its own, so their peak RSS is theirs alone. Printed: messages/s, COPY rows/s,
their ratio, and peak RSS; ``--rss-keys`` adds runs at other key counts (memory flat in
the number of keys).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina \\
        python benchmarks/migrate_bench.py [--keys 2000] [--per-key 50] \\
        [--rss-keys 10000,100000 --rss-per-key 2]

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
import subprocess
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

from conversations.legacy import registry  # noqa: E402
from conversations.legacy.snapshot import LegacyRedis  # noqa: E402
from conversations.management.legacy_run import Options, run_migration  # noqa: E402
from conversations.models import ChangeCounter, Conversation, Message, MessageBatch  # noqa: E402
from conversations.services.legacy_import import (  # noqa: E402
    MESSAGE_COPY_COLUMNS,
    _copy_row,
    _rows,
)
from numina import bulk_insert  # noqa: E402

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


def floor_rows(url: str, *, batch_size: int) -> list[tuple[uuid.UUID, list]]:
    """The rows the migration writes, per key: read through the same layout readers and
    shaped by the same ``_rows``, so the floor copies what the migration copies."""
    source = LegacyRedis(url)
    now = datetime.now(UTC)
    keys = list(source.scan(["*"], count=batch_size))
    found = []
    for start in range(0, len(keys), batch_size):
        for snapshot in source.snapshots(keys[start : start + batch_size]):
            layout = registry.detect(snapshot)
            if layout is None:
                continue  # a companion (summary) key
            messages = layout.read(snapshot).messages
            rows = _rows(messages, first_seq=1, after=now, parent_id=None, parent_depth=0)
            found.append((uuid.uuid4(), rows))
    return found


def truncate() -> None:
    """Empty the tables the migration writes (fresh heap and indexes, as at the start)."""
    tables = [
        model._meta.db_table for model in (Message, Conversation, MessageBatch, ChangeCounter)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")


def copy_floor(
    batches: list[tuple[uuid.UUID, list]], *, owner_id, with_conversations: bool = False
) -> float:
    """Rows per second of one plain COPY (and its commit) of ``batches`` into the real
    message table, its trigger and indexes in place; conversations made first, untimed.
    ``with_conversations``: the conversations' rows are COPYed too, in the same timed
    transaction (messages per second still): what a key's own row costs, which the
    migration pays and the plain floor does not (most of it at a message or two a key)."""
    truncate()
    conversations = [
        Conversation(id=conversation_id, owner_id=owner_id) for conversation_id, _ in batches
    ]
    if not with_conversations:
        Conversation.objects.bulk_create(conversations, batch_size=2000)
    total = sum(len(rows) for _, rows in batches)
    table = connection.ops.quote_name(Message._meta.db_table)
    sql = f"COPY {table} ({', '.join(MESSAGE_COPY_COLUMNS)}) FROM STDIN"
    connection.ensure_connection()
    raw = connection.connection
    started = time.perf_counter()
    with raw.transaction(), raw.cursor() as cursor:
        if with_conversations:
            bulk_insert.insert(conversations)
        with cursor.copy(sql) as copy:
            _copy_rows(copy, batches, owner_id=owner_id)
    elapsed = time.perf_counter() - started
    truncate()
    return total / elapsed


def _copy_rows(copy, batches: list[tuple[uuid.UUID, list]], *, owner_id) -> None:
    # The migration's own row shaping (_copy_row), so both copy the same values.
    for conversation_id, rows in batches:
        for row in rows:
            copy.write_row(_copy_row(row, conversation_id=conversation_id, owner_id=owner_id))


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM, which starts anew at exec (ru_maxrss would carry
    the parent's size at fork into the child), else ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_run(url: str, username: str, batch_size: int) -> None:
    """One migration in this (child) process; its time, counts and peak RSS as JSON."""
    start_rss = peak_rss_mib()
    started = time.perf_counter()
    report = run_migration(options=Options(redis_url=url, username=username, batch_size=batch_size))
    seconds = time.perf_counter() - started
    result = {
        "seconds": seconds,
        "ok": report.ok,
        "imported": report.messages_imported,
        "present": report.messages_already_present,
        "rss_start_mib": start_rss,
        "rss_peak_mib": peak_rss_mib(),
    }
    sys.stdout.write(json.dumps(result) + "\n")


def timed_run(url: str, username: str, batch_size: int) -> dict:
    """``child_run`` in a fresh process, against the benchmark's database."""
    settings = connection.settings_dict
    database_url = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            url,
            "--user",
            username,
            "--batch-size",
            str(batch_size),
        ],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(user, total: int) -> None:
    assert Message.objects.filter(conversation__owner=user).count() == total
    # Each key one straight branch: depth is the place in it, the newest is current.
    assert not Message.objects.filter(conversation__owner=user).exclude(depth=F("seq")).exists()
    assert not (
        Conversation.objects.filter(owner=user)
        .exclude(current_message__seq=F("message_count"))
        .exists()
    )


def measure(client, url: str, user, *, keys: int, per_key: int, batch_size: int) -> dict:
    """Floor, migration, re-run, floor again: one measurement at one size."""
    truncate()
    fill(client, keys=keys, per_key=per_key, username=user.username)
    total = keys * per_key
    batches = floor_rows(url, batch_size=batch_size)
    assert sum(len(rows) for _, rows in batches) == total
    floor_before = copy_floor(batches, owner_id=user.pk)
    first = timed_run(url, user.username, batch_size)
    second = timed_run(url, user.username, batch_size)
    assert first["ok"] and first["imported"] == total, first
    assert second["imported"] == 0 and second["present"] == total, second
    _check(user, total)
    floor_after = copy_floor(batches, owner_id=user.pk)
    floor_with_conversations = copy_floor(batches, owner_id=user.pk, with_conversations=True)
    client.flushdb()
    return {
        "keys": keys,
        "messages": total,
        "first": first,
        "second": second,
        "floor_before": floor_before,
        "floor_after": floor_after,
        "floor_with_conversations": floor_with_conversations,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--per-key", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--rss-keys", default="", help="Comma-separated key counts for the memory runs."
    )
    parser.add_argument("--rss-per-key", type=int, default=2)
    parser.add_argument("--child", metavar="REDIS_URL", help=argparse.SUPPRESS)
    parser.add_argument("--user", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_run(args.child, args.user, args.batch_size)
        return
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

    main_run = measure(
        client, url, user, keys=args.keys, per_key=args.per_key, batch_size=args.batch_size
    )
    memory_runs = [
        measure(
            client, url, user, keys=int(n), per_key=args.rss_per_key, batch_size=args.batch_size
        )
        for n in filter(None, args.rss_keys.split(","))
    ]

    out = io.StringIO()
    for run in [main_run, *memory_runs]:
        first, second = run["first"], run["second"]
        rate = run["messages"] / first["seconds"]
        floor = (run["floor_before"] + run["floor_after"]) / 2
        print(f"keys: {run['keys']} ({', '.join(LAYOUTS)}), messages: {run['messages']}", file=out)
        print(f"  migration:  {first['seconds']:6.2f} s  {rate:10,.0f} messages/s", file=out)
        print(
            f"  re-run:     {second['seconds']:6.2f} s  "
            f"{run['messages'] / second['seconds']:10,.0f} messages/s (all already present)",
            file=out,
        )
        print(
            f"  COPY floor: {floor:10,.0f} rows/s (before {run['floor_before']:,.0f}, after "
            f"{run['floor_after']:,.0f}; same rows, same indexed message table)",
            file=out,
        )
        print(f"  migration / COPY: {rate / floor:.2f}", file=out)
        with_rows = run["floor_with_conversations"]
        print(
            f"  COPY of the messages and their conversations' rows: {with_rows:10,.0f} "
            f"messages/s; migration / that: {rate / with_rows:.2f}",
            file=out,
        )
        print(
            f"  peak RSS:   {first['rss_peak_mib']:.0f} MiB migration, "
            f"{second['rss_peak_mib']:.0f} MiB re-run (at start {first['rss_start_mib']:.0f} MiB)",
            file=out,
        )
    sys.stdout.write(out.getvalue())


if __name__ == "__main__":
    main()
