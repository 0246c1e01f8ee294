"""Loads a benchmark data set fast: users x conversations x messages through COPY.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_bench \\
        python -m benchmarks.generate --users 100 --conversations 10000 --messages 1000000

Drops the database's Numina rows first. Message text is drawn from a fixed vocabulary
with a Zipf-like spread (a few very common words, many rare ones), like real chat, so
search meets both kinds. The GIN search index is dropped during the load and rebuilt
after, the way a bulk load into PostgreSQL is done. Every conversation is one straight
branch (each message under the one before, the newest current).

Beside them, the first user gets two chats of their own for the branch scenarios of
benchmarks/run.py (kept out of the counts and of the other scenarios' picks): a
straight chat of ``BRANCH_CHAT_LENGTH`` messages, and the same chat as a tree, with an
older version of every ``BRANCH_EVERY``-th message (a regenerated reply, the old one
with a follow-up of its own) beside the branch shown.
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
BRANCH_CHAT_LENGTH = 200
BRANCH_EVERY = 10
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


PLANT_ALL = "all"


def planted_word(text: str) -> tuple[str, str]:
    """WORD:COUNT (COUNT a positive number or ``all``) as (word, count text), for argparse."""
    word, _, count = text.partition(":")
    if not word.isalpha() or not word.islower():
        raise argparse.ArgumentTypeError(f"{text!r}: the word must be lower-case letters")
    if count != PLANT_ALL and not (count.isdigit() and int(count) > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: the count must be a positive number or all")
    return word, count


def plant_positions(
    *, plants: list[tuple[str, str]], total: int, rng: random.Random
) -> dict[int, list[str]]:
    """For each message position (0 .. total-1) that gets planted words, those words:
    each word at exactly its count of distinct positions (all of them for ``all``)."""
    positions: dict[int, list[str]] = {}
    for word, count in plants:
        if count == PLANT_ALL:
            continue
        if int(count) > total:
            sys.exit(f"--plant {word}:{count}: only {total} messages are loaded")
        for position in rng.sample(range(total), int(count)):
            positions.setdefault(position, []).append(word)
    return positions


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


CONVERSATION_COLUMNS = [
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
    "instructions",
]


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


def straight_chat(*, cid, owner, texts: list[str], start):
    """Message rows (MESSAGE_COPY_COLUMNS) of one straight branch of ``texts``."""
    parent = None
    for depth, text in enumerate(texts, start=1):
        id_ = uuid.uuid4()
        role = "user" if depth % 2 else "assistant"
        yield (
            id_,
            cid,
            owner,
            depth,
            parent,
            depth,
            role,
            text,
            "[]",
            "{}",
            start + timedelta(minutes=depth),
        )
        parent = id_


def branched_chat(*, cid, owner, texts: list[str], older: list[str], start):
    """Message rows of a tree whose shown branch is ``texts``: each ``BRANCH_EVERY``-th
    message has an older version (stored before it, under the same parent) with a
    follow-up of its own, from ``older``, so the newest version stays the current one."""
    older_texts = iter(older)
    seq = 0
    parent = None

    def row(*, parent, depth, role, text):
        nonlocal seq
        seq += 1
        return (
            uuid.uuid4(),
            cid,
            owner,
            seq,
            parent,
            depth,
            role,
            text,
            "[]",
            "{}",
            start + timedelta(minutes=seq),
        )

    for depth, text in enumerate(texts, start=1):
        role = "user" if depth % 2 else "assistant"
        if depth % BRANCH_EVERY == 0:
            old = row(parent=parent, depth=depth, role=role, text=next(older_texts))
            yield old
            other = "assistant" if role == "user" else "user"
            yield row(parent=old[0], depth=depth + 1, role=other, text=next(older_texts))
        shown = row(parent=parent, depth=depth, role=role, text=text)
        yield shown
        parent = shown[0]


def add_branch_chats(*, owner, words, cum_weights, rng, now, change_seq: int) -> dict[str, str]:
    """The straight chat and the same chat as a tree (see the module's docstring), for
    ``owner``; their ids as {"straight", "tree"}."""
    texts = [sentence(words, cum_weights, rng) for _ in range(BRANCH_CHAT_LENGTH)]
    older = [
        sentence(words, cum_weights, rng) for _ in range(2 * BRANCH_CHAT_LENGTH // BRANCH_EVERY)
    ]
    start = now - timedelta(days=1)
    straight, tree = uuid.uuid4(), uuid.uuid4()
    tree_rows = list(branched_chat(cid=tree, owner=owner, texts=texts, older=older, start=start))
    copy_rows(
        "conversations_conversation",
        CONVERSATION_COLUMNS,
        [
            (
                cid,
                owner,
                title,
                True,
                "",
                0,
                False,
                False,
                count,
                "",
                now,
                start,
                now,
                change_seq + n,
                "",
            )
            for n, (cid, title, count) in enumerate(
                [
                    (straight, "Straight chat", BRANCH_CHAT_LENGTH),
                    (tree, "Branched chat", len(tree_rows)),
                ],
                start=1,
            )
        ],
    )
    copy_rows(
        "conversations_message",
        list(MESSAGE_COPY_COLUMNS),
        straight_chat(cid=straight, owner=owner, texts=texts, start=start),
    )
    copy_rows("conversations_message", list(MESSAGE_COPY_COLUMNS), tree_rows)
    return {"straight": str(straight), "tree": str(tree)}


def write_manifest_again() -> None:
    """dataset.json for data loaded earlier (the tokens are stored as digests only, so new
    ones are issued); without the branch chats, which only the load names."""
    from conversations.models import Conversation

    users = list(User.objects.filter(username__startswith="bench").order_by("username"))
    by_user: dict[str, list[str]] = {user.username: [] for user in users}
    names = {user.id: user.username for user in users}
    for conversation_id, owner_id in Conversation.objects.values_list("id", "owner_id"):
        if owner_id in names:
            by_user[names[owner_id]].append(str(conversation_id))
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_message")
        messages = cursor.fetchone()[0]
    RESULTS.mkdir(exist_ok=True)
    manifest = {
        "users": len(users),
        "conversations": sum(len(ids) for ids in by_user.values()),
        "messages": messages,
        "tokens": {
            user.username: issue_token(user=user, device_name="benchmark")[0] for user in users
        },
        "conversation_ids": by_user,
        "search_words": ["benchmark"],
    }
    (RESULTS / "dataset.json").write_text(json.dumps(manifest))
    print(f"wrote {RESULTS / 'dataset.json'} for {len(users)} users")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--plant",
        type=planted_word,
        action="append",
        default=[],
        metavar="WORD:COUNT",
        help="add WORD to exactly COUNT random messages (COUNT 'all': every message)",
    )
    parser.add_argument(
        "--manifest-only",
        action="store_true",
        help="keep the loaded data; issue new tokens and write dataset.json again",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("The benchmark data set needs PostgreSQL: set DATABASE_URL.")
    if args.manifest_only:
        write_manifest_again()
        return

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
        CONVERSATION_COLUMNS,
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
                "",
            )
            for cid, owner, last, seq in conversations
        ),
    )
    copy_rows(
        "conversations_changecounter",
        ["owner_id", "value"],
        # The first user's two branch chats took two more change numbers.
        ((user.id, per_user + (2 if user is users[0] else 0)) for user in users),
    )

    # Drawn from their own generator, so the text of a data set without --plant (and the
    # rest of one with it) is what the same seed always made.
    count_loaded = per_conversation * len(conversations)
    planted = plant_positions(
        plants=args.plant,
        total=count_loaded,
        rng=random.Random(args.seed + 1),
    )
    everywhere = [word for word, count in args.plant if count == PLANT_ALL]

    def messages():
        position = 0
        for cid, owner, last, _ in conversations:
            start = last - timedelta(minutes=per_conversation)
            texts = []
            for _ in range(per_conversation):
                text = sentence(words, cum_weights, rng)
                extra = planted.get(position, []) + everywhere
                if extra:
                    text = f"{text} {' '.join(extra)}"
                texts.append(text)
                position += 1
            yield from straight_chat(cid=cid, owner=owner, texts=texts, start=start)

    loaded_at = time.perf_counter()
    count = copy_rows(
        "conversations_message",
        list(MESSAGE_COPY_COLUMNS),
        messages(),
    )
    copy_seconds = time.perf_counter() - loaded_at
    branch_chats = add_branch_chats(
        owner=users[0].id,
        words=words,
        cum_weights=cum_weights,
        rng=rng,
        now=now,
        change_seq=per_user,
    )
    with connection.cursor() as cursor:
        # The newest message is the current one: in the tree too, where the older
        # versions were stored before the branch shown.
        cursor.execute(
            "UPDATE conversations_conversation c SET preview = left(m.content, 200),"
            " current_message_id = m.id FROM conversations_message m"
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
        "branch_chats": {"user": users[0].username, **branch_chats},
        # word -> how many of the loaded conversations' messages carry it
        "planted": {
            word: count_loaded if count == PLANT_ALL else int(count) for word, count in args.plant
        },
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
