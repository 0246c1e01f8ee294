"""kill -9 in the middle of a run, then a re-run: every message exactly once.

The command runs as a real subprocess against the test database (so this test commits
for real: transactional_db), is killed with SIGKILL once some conversations are
committed, and a second run must finish the job with exact counts.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count, Max, Min

from conversations.models import Conversation, Message
from tests.factories import UserFactory

from .conftest import LEGACY_REDIS_URL

ROOT = Path(__file__).resolve().parents[3]
# Enough keys that the run lasts seconds, so the kill lands mid-run even when this
# test process is slow to notice the first commits (a busy machine).
KEYS = 2000
PER_KEY = 12


def _fill(client) -> None:
    pipe = client.pipeline(transaction=False)
    for k in range(KEYS):
        items = [
            json.dumps({"role": "user" if n % 2 == 0 else "assistant", "content": f"{k}/{n}"})
            for n in range(PER_KEY)
        ]
        pipe.rpush(f"history:{k}", *items)
    pipe.execute()


def _database_url() -> str:
    settings = connection.settings_dict
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}"
    )


def _command(username: str) -> list[str]:
    return [
        sys.executable,
        "manage.py",
        "migrate_conversations",
        "--redis-url",
        LEGACY_REDIS_URL,
        "--user",
        username,
        "--batch-size",
        "20",
        "--json",
    ]


@pytest.mark.django_db(transaction=True)
def test_kill_9_mid_run_then_rerun_imports_every_message_exactly_once(legacy_redis):
    user = UserFactory()
    _fill(legacy_redis)
    env = {**os.environ, "DATABASE_URL": _database_url()}
    process = subprocess.Popen(
        _command(user.username),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not Conversation.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    committed_before = Conversation.objects.count()
    assert process.returncode == -signal.SIGKILL
    assert 0 < committed_before < KEYS, "the kill must land mid-run"
    # Whatever was committed is whole: no conversation holds part of its key.
    assert set(Conversation.objects.values_list("message_count", flat=True)) == {PER_KEY}

    rerun = subprocess.run(
        _command(user.username), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )

    report = json.loads(rerun.stdout)
    assert rerun.returncode == 0
    assert report["conversations_created"] == KEYS - committed_before
    assert report["messages_imported"] == (KEYS - committed_before) * PER_KEY
    assert report["messages_already_present"] == committed_before * PER_KEY
    assert Conversation.objects.count() == KEYS
    assert Message.objects.count() == KEYS * PER_KEY
    per_conversation = Message.objects.values("conversation").annotate(
        n=Count("id"), low=Min("seq"), high=Max("seq")
    )
    assert {(row["n"], row["low"], row["high"]) for row in per_conversation} == {
        (PER_KEY, 1, PER_KEY)
    }
