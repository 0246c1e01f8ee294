"""How the migration keeps the search index: three ways measured on the same rows.

The message table's search vector is filled by a row trigger (migration 0003) and
indexed by a GIN index that has ``fastupdate`` on (PostgreSQL's default: new entries go
to a pending list, merged into the index once it passes ``gin_pending_list_limit``,
4 MB). Compared, each copying the same rows in transactions of 100 conversations into
the real, indexed table:

- ``default``: as the migration writes today (trigger, 4 MB pending list);
- ``pending``: the session's ``gin_pending_list_limit`` raised to 256 MB for the run
  and ``gin_clean_pending_list`` at the end (timed too);
- ``setwise``: the trigger off and the vectors computed in one UPDATE per batch.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina \\
        python benchmarks/migrate_index_bench.py [--keys 1000] [--per-key 50] [--repeat 4]

It uses migrate_bench's database (``bench_`` + the DATABASE_URL name, which
migrate_bench.py creates) and NUMINA_BENCH_REDIS_URL, which it FLUSHES.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
os.environ.setdefault("SECRET_KEY", "numina-benchmark-only")
os.environ["DATABASE_URL"] = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + (
    "/bench_" + os.environ["DATABASE_URL"].rsplit("/", 1)[1]
)

import redis
from django.contrib.auth import get_user_model
from django.db import connection

from benchmarks import migrate_bench as bench
from conversations.models import Conversation

TRIGGER = "conversations_message_search_vector"  # migration 0003's
INDEX = "message_owner_search"
VARIANTS = ("default", "pending", "setwise")


def copy_rate(batches, *, owner_id, variant: str, per_transaction: int = 100) -> float:
    bench.truncate()
    Conversation.objects.bulk_create(
        [Conversation(id=conversation_id, owner_id=owner_id) for conversation_id, _ in batches],
        batch_size=2000,
    )
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        if variant == "pending":
            cursor.execute("SET gin_pending_list_limit = '256MB'")
        if variant == "setwise":  # an exclusive lock: only for this measurement
            cursor.execute(f"ALTER TABLE conversations_message DISABLE TRIGGER {TRIGGER}")
    raw.commit()
    columns = ", ".join(bench.MESSAGE_COPY_COLUMNS)
    total = sum(len(rows) for _, rows in batches)
    started = time.perf_counter()
    for start in range(0, len(batches), per_transaction):
        chunk = batches[start : start + per_transaction]
        with raw.transaction(), raw.cursor() as cursor:
            with cursor.copy(f"COPY conversations_message ({columns}) FROM STDIN") as copy:
                for conversation_id, rows in chunk:
                    for id_, seq, parent, depth, role, content, metadata, at in rows:
                        values = (id_, conversation_id, owner_id, seq, parent, depth, role)
                        copy.write_row((*values, content, "[]", metadata, at))
            if variant == "setwise":
                cursor.execute(
                    "UPDATE conversations_message SET search_vector = "
                    "to_tsvector('pg_catalog.english', content) WHERE conversation_id = ANY(%s)",
                    [[conversation_id for conversation_id, _ in chunk]],
                )
    with raw.cursor() as cursor:
        if variant == "pending":
            cursor.execute(f"SELECT gin_clean_pending_list('{INDEX}'::regclass)")
            cursor.execute("RESET gin_pending_list_limit")
    raw.commit()
    elapsed = time.perf_counter() - started
    if variant == "setwise":
        with raw.cursor() as cursor:
            cursor.execute(f"ALTER TABLE conversations_message ENABLE TRIGGER {TRIGGER}")
        raw.commit()
    bench.truncate()
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--per-key", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    url = os.environ.get("NUMINA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    if url.rstrip("/").endswith(("/0", ":6379")):
        sys.exit("NUMINA_BENCH_REDIS_URL must name a database of its own (not 0): it is flushed.")
    user, _ = get_user_model().objects.get_or_create(username="bench")
    client = redis.Redis.from_url(url)
    bench.fill(client, keys=args.keys, per_key=args.per_key, username=user.username)
    batches = bench.floor_rows(url, batch_size=500)
    rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeat):  # interleaved, so a busy moment hits every variant
        for variant in VARIANTS:
            rates[variant].append(copy_rate(batches, owner_id=user.pk, variant=variant))
    client.flushdb()
    for variant, values in rates.items():
        print(
            f"{variant:8} median {statistics.median(values):8,.0f} rows/s  "
            f"(runs: {', '.join(f'{value:,.0f}' for value in values)})"
        )


if __name__ == "__main__":
    main()
