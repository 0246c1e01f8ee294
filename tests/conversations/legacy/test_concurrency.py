"""The legacy Redis keeps moving while the command reads it: keys expire, lists grow."""

import json
import threading
import time

import pytest
from langchain_core.messages import HumanMessage

from conversations.legacy.report import Report
from conversations.legacy.snapshot import LegacyRedis
from conversations.management.legacy_run import Options, Owners, migrate_keys

from .conftest import LEGACY_REDIS_URL, conversation_for, stored
from .writers import langchain_history, llamaindex_add

pytestmark = pytest.mark.django_db


def test_key_expiring_between_scan_and_read_is_skipped_as_expired(legacy_redis, user):
    llamaindex_add("stays", "user", "here")
    llamaindex_add("goes", "user", "soon gone")
    source = LegacyRedis(LEGACY_REDIS_URL)
    report = Report()

    def scanned_keys():
        for key in source.scan(["*"], count=10):
            if key == b"goes":
                legacy_redis.pexpire(key, 1)  # expires after SCAN found it, before the read
                time.sleep(0.01)
            yield key

    migrate_keys(
        scanned_keys(),
        source=source,
        options=Options(redis_url=LEGACY_REDIS_URL, username=user.username),
        owners=Owners(username=user.username, user_map=None),
        report=report,
    )

    assert report.skipped == {"expired": 1}
    assert report.skipped_keys["expired"] == ["goes"]
    assert stored(conversation_for("llamaindex", "stays")) == [("user", "here")]
    assert report.ok


def test_keys_written_with_a_ttl_are_imported_while_they_live(legacy_redis, migrate, user):
    langchain_history("ttl", ttl=60).add_message(HumanMessage("short-lived"))

    run = migrate("--user", user.username)

    assert legacy_redis.ttl("message_store:ttl") > 0
    assert run.report["messages_imported"] == 1


def test_lpush_during_the_read_yields_a_consistent_prefix_then_the_rest(
    legacy_redis, migrate, user
):
    key = "message_store:busy"
    initial = 20_000
    # Written in bulk for speed, in exactly RedisChatMessageHistory's item format.
    legacy_redis.lpush(key, *(_item(n) for n in range(initial)))
    pushed = [initial]
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            legacy_redis.lpush(key, _item(pushed[0]))
            pushed[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        first = migrate("--user", user.username, "--match", "message_store:*")
        pushed_when_first_ended = pushed[0]
        after_first = [c for _, c in stored(conversation_for("langchain", key))]
    finally:
        stop.set()
        thread.join()
    second = migrate("--user", user.username, "--match", "message_store:*")

    contents = [content for _, content in stored(conversation_for("langchain", key))]
    imported_first = first.report["messages_imported"]
    assert initial <= imported_first <= pushed_when_first_ended
    # One snapshot: exactly the oldest messages, in order, whatever was pushed meanwhile.
    assert after_first == [f"m{n}" for n in range(imported_first)]
    assert pushed[0] > pushed_when_first_ended or pushed[0] > initial  # the writer ran
    assert contents == [f"m{n}" for n in range(pushed[0])]
    assert second.report["messages_imported"] == pushed[0] - imported_first


def _item(n: int) -> str:
    return json.dumps(
        {"type": "human", "data": {"content": f"m{n}", "additional_kwargs": {}, "type": "human"}}
    )
