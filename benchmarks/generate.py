"""Loads a benchmark data set fast: users x conversations x messages through COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_bench \\
        python -m benchmarks.generate --users 100 --conversations 10000 --messages 1000000

Drops the database's Numina rows first. Message text is drawn from a fixed vocabulary
with a Zipf-like spread (a few very common words, many rare ones), like real chat, so
search meets both kinds. The GIN search index is dropped during the load and rebuilt
after, the way a bulk load into PostgreSQL is done.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only")
django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import issue_token  # noqa: E402
from conversations.services.legacy_import import MESSAGE_COPY_COLUMNS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ren",
    "to",
    "sa",
    "vel",
    "du",
    "pra",
    "ni",
    "os",
    "te",
    "gar",
    "bu",
    "lin",
    "ze",
]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def sentence(words: list[str], cum_weights: list[float], rng: random.Random) -> str:
    return (
        " ".join(rng.choices(words, cum_weights=cum_weights, k=rng.randint(8, 60))).capitalize()
        + "."
    )


def copy_rows(table: str, columns: list[str], rows) -> int:
    count = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark data set needs PostgreSQL: set DATABASE_URL.")

    rng = random.Random(args.seed)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE conversations_message, conversations_conversation_tags, conversations_tag,"
            " conversations_conversation, conversations_deletedconversation,"
            " conversations_changecounter, knox_authtoken, accounts_devicename, accounts_user"
            " CASCADE"
        )
        # Bulk-load style: no per-row index maintenance; the index is built once at the end.
        cursor.execute("DROP INDEX IF EXISTS message_owner_search")

    password = make_password("benchmark-password-42")
    users = [User(username=f"bench{n}", password=password) for n in range(args.users)]
    User.objects.bulk_create(users)

    now = timezone.now()
    per_user = args.conversations // args.users
    per_conversation = args.messages // args.conversations
    conversations = []  # (id, owner, last activity)
    for user in users:
        for n in range(per_user):
            conversations.append(
                (
                    uuid.uuid4(),
                    user.id,
                    now - timedelta(minutes=rng.randint(0, 60 * 24 * 90)),
                    n + 1,
                )
            )

    words = vocabulary(5000, rng)
    cum_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    copy_rows(
        "conversations_conversation",
        [
            "id",
            "owner_id",
            "title",
            "title_set_by_user",
            "summary",
            "summary_covers_seq",
            "is_archived",
            "is_pinned",
            "message_count",
            "preview",
            "last_activity_at",
            "created_at",
            "updated_at",
            "change_seq",
        ],
        (
            (
                cid,
                owner,
                f"Chat about {rng.choice(words)}",
                False,
                "",
                0,
                rng.random() < 0.1,
                rng.random() < 0.05,
                per_conversation,
                "",
                last,
                last - timedelta(days=1),
                last,
                seq,
            )
            for cid, owner, last, seq in conversations
        ),
    )
    copy_rows(
        "conversations_changecounter",
        ["owner_id", "value"],
        ((user.id, per_user) for user in users),
    )

    def messages():
        for cid, owner, last, _ in conversations:
            start = last - timedelta(minutes=per_conversation)
            for seq in range(1, per_conversation + 1):
                role = "user" if seq % 2 else "assistant"
                yield (
                    uuid.uuid4(),
                    cid,
                    owner,
                    seq,
                    role,
                    sentence(words, cum_weights, rng),
                    "[]",
                    "{}",
                    start + timedelta(minutes=seq),
                )

    loaded_at = time.perf_counter()
    count = copy_rows(
        "conversations_message",
        list(MESSAGE_COPY_COLUMNS),
        messages(),
    )
    copy_seconds = time.perf_counter() - loaded_at
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversations_conversation c SET preview = left(m.content, 200)"
            " FROM conversations_message m"
            " WHERE m.conversation_id = c.id AND m.seq = c.message_count"
        )
        index_started = time.perf_counter()
        cursor.execute(
            "CREATE INDEX message_owner_search ON conversations_message"
            " USING gin (owner_id, search_vector)"
        )
        index_seconds = time.perf_counter() - index_started
        cursor.execute("VACUUM ANALYZE")

    tokens = {user.username: issue_token(user=user, device_name="benchmark")[0] for user in users}
    RESULTS.mkdir(exist_ok=True)
    manifest = {
        "users": args.users,
        "conversations": len(conversations),
        "messages": count,
        "tokens": tokens,
        "conversation_ids": {str(u.id): [] for u in users},
        "search_words": [words[5], words[50], words[500]],
    }
    owners = {user.id: user.username for user in users}
    by_user: dict[str, list[str]] = {user.username: [] for user in users}
    for cid, owner, _, _ in conversations:
        by_user[owners[owner]].append(str(cid))
    manifest["conversation_ids"] = by_user
    (RESULTS / "dataset.json").write_text(json.dumps(manifest))
    print(
        f"loaded {args.users} users, {len(conversations)} conversations, {count} messages in "
        f"{time.perf_counter() - started:.1f}s (messages COPY {copy_seconds:.1f}s = "
        f"{count / copy_seconds:,.0f} rows/s; search index {index_seconds:.1f}s)"
    )


if __name__ == "__main__":
    main()
