"""Measures GET /api/v1/export/ (the whole account as one ZIP) under the production server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/numina_exportbench \\
        python -m benchmarks.export_bench [--conversations 10000] [--messages 20] [--reload]

In its own database (numina_exportbench unless DATABASE_URL names another): one user
with ``--conversations`` chats of ``--messages`` messages each, loaded through COPY
(benchmarks/generate.py's rows; loaded once, kept for later runs unless ``--reload``).
Then gunicorn as benchmarks/run.py starts it (gunicorn.conf.py: uvicorn workers, DEBUG off),
one client downloads the export to a temporary file, and the archive is checked
(manifest and every member). Printed: total time, MB/s, and the server's resident memory
— master plus workers, from /proc/<pid>/status VmRSS every 50 ms — idle (before the
download) and at its peak during it. The goal is memory flat: the peak under 100 MB
above idle.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile
from datetime import timedelta
from pathlib import Path

DATABASE = "numina_exportbench"
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DATABASE}")
# A key the server accepts with DEBUG off (generate.py's own default is too weak for it).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def _create_database() -> None:
    """The benchmark's own database, created when missing (through the server's
    maintenance database: Django cannot connect to a database that does not exist)."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(f'CREATE DATABASE "{name}"')  # our own fixed name


_create_database()

from benchmarks import generate  # noqa: E402  (sets Django up on DATABASE_URL)
from benchmarks.run import start_server  # noqa: E402

SAMPLE_SECONDS = 0.05
USERNAME = "exportbench"


def load(*, conversations: int, messages: int, reload: bool) -> str:
    """The user's API token, after loading the data set unless it is there already."""
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import issue_token
    from conversations.models import Conversation, Message
    from conversations.services.legacy_import import MESSAGE_COPY_COLUMNS

    call_command("migrate", verbosity=0)
    user = User.objects.filter(username=USERNAME).first()
    loaded = (
        user is not None
        and Conversation.objects.filter(owner=user).count() == conversations
        and Message.objects.filter(owner=user).count() == conversations * messages
    )
    if user is None or reload or not loaded:
        started = time.perf_counter()
        if user is not None:
            user.delete()
        user = User.objects.create(username=USERNAME, password=make_password("bench-pass-42"))
        rng = random.Random(15)
        words = generate.vocabulary(5000, rng)
        weights = list(generate.itertools.accumulate(1 / (r + 1) for r in range(len(words))))
        now = timezone.now()
        chats = [
            (uuid.uuid4(), now - timedelta(minutes=rng.randint(0, 60 * 24 * 365)))
            for _ in range(conversations)
        ]
        generate.copy_rows(
            "conversations_conversation",
            generate.CONVERSATION_COLUMNS,
            (
                (cid, user.id, f"Chat about {rng.choice(words)}", False, "", 0, False, False,
                 messages, "", last, last - timedelta(days=1), last, n + 1)
                for n, (cid, last) in enumerate(chats)
            ),
        )  # fmt: skip
        generate.copy_rows(
            "conversations_changecounter", ["owner_id", "value"], [(user.id, conversations)]
        )

        def rows():
            for cid, last in chats:
                texts = [generate.sentence(words, weights, rng) for _ in range(messages)]
                start = last - timedelta(minutes=messages)
                yield from generate.straight_chat(cid=cid, owner=user.id, texts=texts, start=start)

        count = generate.copy_rows("conversations_message", list(MESSAGE_COPY_COLUMNS), rows())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE conversations_conversation c SET preview = left(m.content, 200),"
                " current_message_id = m.id FROM conversations_message m"
                " WHERE m.conversation_id = c.id AND m.seq = c.message_count AND c.owner_id = %s",
                [user.id],
            )
            cursor.execute("VACUUM ANALYZE")
        print(
            f"loaded {conversations} conversations, {count} messages "
            f"in {time.perf_counter() - started:.1f}s"
        )
    return issue_token(user=user, device_name="export-bench")[0]


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def server_rss_kib(master: int) -> int:
    """Resident memory of the gunicorn master and its workers, in KiB."""
    return _rss_kib(master) + sum(_rss_kib(worker) for worker in _children(master))


class RssSampler(threading.Thread):
    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, server_rss_kib(self.master))
            self.samples += 1
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    return urllib.request.urlopen(request, timeout=600)  # noqa: S310  (our loopback server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--reload", action="store_true", help="load the data set again")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", type=int, default=8797)
    args = parser.parse_args()

    token = load(conversations=args.conversations, messages=args.messages, reload=args.reload)
    server = start_server(port=args.port, workers=args.workers, threads=args.threads)
    base = f"http://127.0.0.1:{args.port}"
    try:
        # Every worker has served a request and loaded the whole app before idle is read.
        for _ in range(4 * args.workers):
            _get(f"{base}/api/v1/me/stats/", token).read()
        idle = RssSampler(server.pid)
        idle.start()
        time.sleep(1.0)  # a second of idle samples: the baseline, not a wait for anything
        idle.stop()
        sampler = RssSampler(server.pid)
        sampler.start()
        started = time.perf_counter()
        size = 0
        with tempfile.TemporaryFile() as spool:
            with _get(f"{base}/api/v1/export/", token) as response:
                assert response.status == 200, response.status
                disposition = response.headers["Content-Disposition"]
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    spool.write(chunk)
            seconds = time.perf_counter() - started
            sampler.stop()
            spool.seek(0)
            with zipfile.ZipFile(spool) as archive:
                manifest = json.loads(archive.read("manifest.json"))
                names = archive.namelist()
                sample = json.loads(archive.read(manifest["conversations"][0]["json"]))
        assert len(manifest["conversations"]) == args.conversations
        assert len(names) == 2 * args.conversations + 1
        assert len(sample["messages"]) == args.messages
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    mb = size / 1e6
    print(f"export of {args.conversations} conversations x {args.messages} messages")
    print(f"  {disposition}")
    print(f"  {mb:.1f} MB in {seconds:.1f}s = {mb / seconds:.1f} MB/s")
    print(
        f"  server RSS (master + {args.workers} workers): idle peak {idle.peak / 1024:.1f} MB, "
        f"peak during export {sampler.peak / 1024:.1f} MB "
        f"(+{(sampler.peak - idle.peak) / 1024:.1f} MB; {sampler.samples} samples every "
        f"{SAMPLE_SECONDS * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    main()
