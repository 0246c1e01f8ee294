"""Fixtures for the legacy migration: a Redis database of the tests' own, and a runner.

The legacy data lives in NUMINA_TEST_LEGACY_REDIS_URL (never db 0, the app's cache in
CI), flushed before and after each test.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass

import pytest
import redis
from django.core.management import CommandError, call_command

from conversations.models import Conversation, Message

LEGACY_REDIS_URL = os.environ.get("NUMINA_TEST_LEGACY_REDIS_URL", "redis://127.0.0.1:6379/14")


@dataclass
class Run:
    report: dict
    exit_code: int


@pytest.fixture
def legacy_redis():
    client = redis.Redis.from_url(LEGACY_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def migrate(legacy_redis):
    """Run the command against the legacy Redis with --json; its report and exit code."""

    def run(*args: str) -> Run:
        out = io.StringIO()
        try:
            call_command(
                "migrate_conversations",
                *("--redis-url", LEGACY_REDIS_URL, "--json", *args),
                stdout=out,
            )
            exit_code = 0
        except CommandError as exc:
            exit_code = exc.returncode
        return Run(report=json.loads(out.getvalue()), exit_code=exit_code)

    return run


def fill_history(client, count: int, *, per_key: int = 3) -> None:
    """``count`` LlamaIndex keys ``history:{k}``, each of ``per_key`` user messages
    ``"{k}/{n}"``."""
    pipe = client.pipeline(transaction=False)
    for k in range(count):
        items = [json.dumps({"role": "user", "content": f"{k}/{n}"}) for n in range(per_key)]
        pipe.rpush(f"history:{k}", *items)
    pipe.execute()


def db_number() -> int:
    return int(LEGACY_REDIS_URL.rsplit("/", 1)[1])


def conversation_for(layout: str, key: str) -> Conversation:
    return Conversation.objects.get(legacy_key=f"{layout}:{db_number()}:{key}")


def stored(conversation: Conversation) -> list[tuple[str, str]]:
    """The conversation's (role, content) pairs in seq order."""
    return list(
        Message.objects.filter(conversation=conversation)
        .order_by("seq")
        .values_list("role", "content")
    )
