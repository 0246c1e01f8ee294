"""The migration's writer threads (NUMINA_LEGACY_WRITERS): several connections writing
groups of keys at once, each group still one transaction, the report as with one.

These commit for real (``transaction=True``): a writer's connection cannot see a test
transaction that never commits, which is also why ``writer_count`` is one inside one.
"""

import threading
from types import SimpleNamespace

import pytest
from django.db import connection, transaction

from conversations.legacy.report import Report
from conversations.legacy.snapshot import LegacyRedis
from conversations.management.legacy_run import (
    Options,
    Owners,
    _transactions,
    migrate_keys,
    writer_count,
)
from conversations.models import Conversation, Message
from tests.factories import UserFactory

from .conftest import LEGACY_REDIS_URL, conversation_for, fill_history, stored

UNSTORABLE = '{"role": "user", "content": "\\ud800"}'  # see test_batches.py


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def two_writers(settings):
    settings.NUMINA_LEGACY_WRITERS = 2


def _run(owner, keys=None, **options) -> Report:
    source = LegacyRedis(LEGACY_REDIS_URL)
    report = Report()
    migrate_keys(
        keys if keys is not None else source.scan(["*"], count=100),
        source=source,
        options=Options(redis_url=LEGACY_REDIS_URL, username=owner.username, **options),
        owners=Owners(username=owner.username, user_map=None),
        report=report,
    )
    return report


def _writer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("legacy-writer")]


def _connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_writers_store_every_key_once_each_with_its_own_change_number(
    legacy_redis, owner, two_writers
):
    fill_history(legacy_redis, 60)
    options = Options(redis_url=LEGACY_REDIS_URL, username=owner.username)
    assert writer_count(options=options) == 2
    connections_before = _connections()

    report = _run(owner, batch_size=100, batch_conversations=7)

    assert report.ok
    assert (report.conversations_created, report.messages_imported) == (60, 180)
    assert Message.objects.count() == 180
    seqs = list(Conversation.objects.values_list("change_seq", flat=True))
    assert len(set(seqs)) == 60
    assert stored(conversation_for("llamaindex", "history:41")) == [
        ("user", "41/0"),
        ("user", "41/1"),
        ("user", "41/2"),
    ]
    # The writers are gone, and so are their connections.
    assert _writer_threads() == []
    assert _connections() == connections_before

    again = _run(owner, batch_size=100, batch_conversations=7)
    assert (again.messages_imported, again.messages_already_present) == (0, 180)


@pytest.mark.django_db(transaction=True)
def test_with_two_writers_a_key_the_database_refuses_loses_only_itself(
    legacy_redis, owner, two_writers
):
    fill_history(legacy_redis, 12)
    legacy_redis.rpush("history:bad", '{"role": "user", "content": "fine"}', UNSTORABLE)

    report = _run(owner, batch_size=100, batch_conversations=3)

    assert report.failed_key_count == 1
    assert report.failed_keys[0]["key"] == "history:bad"
    assert (report.conversations_created, report.messages_imported) == (12, 36)
    assert not Conversation.objects.filter(legacy_key__endswith=":history:bad").exists()


@pytest.mark.django_db(transaction=True)
def test_with_two_writers_a_key_scanned_twice_waits_for_its_first_group(
    legacy_redis, owner, two_writers
):
    fill_history(legacy_redis, 3)

    # One key a group: the third group holds history:0 again, and must not be written
    # while the first (which creates it) may still be uncommitted.
    report = _run(
        owner,
        keys=[b"history:0", b"history:1", b"history:0", b"history:2"],
        batch_conversations=1,
    )

    assert report.ok
    assert report.failed_key_count == 0
    assert report.conversations_created == 3
    assert (report.messages_imported, report.messages_already_present) == (9, 3)
    assert Conversation.objects.count() == 3


def _job(key: str, messages: int):
    # What _transactions reads of a job: its key and its reading's messages.
    return SimpleNamespace(legacy_key=key, reading=SimpleNamespace(messages=[None] * messages))


def test_long_keys_end_a_transaction_before_its_conversations_do():
    jobs = [_job(f"k{n}", 40) for n in range(10)]

    groups = list(_transactions(jobs, size=100, messages=100))

    # 40 + 40 + 40 reaches 100: three keys a transaction, the last holding one.
    assert [len(group) for group in groups] == [3, 3, 3, 1]
    assert [len(group) for group in _transactions(jobs, size=100, messages=None)] == [10]
    assert [len(group) for group in _transactions(jobs, size=4, messages=1000)] == [4, 4, 2]
    # A key of more messages than the bound is a transaction of its own, never split.
    assert [
        len(g) for g in _transactions([_job("big", 500), _job("k", 1)], size=9, messages=100)
    ] == [1, 1]


@pytest.mark.django_db
def test_one_writer_inside_a_transaction_on_a_dry_run_or_when_set_so(owner, settings):
    options = Options(redis_url=LEGACY_REDIS_URL, username=owner.username)
    settings.NUMINA_LEGACY_WRITERS = 4
    assert connection.in_atomic_block  # the test's own transaction
    assert writer_count(options=options) == 1
    with transaction.atomic():
        assert writer_count(options=options) == 1


@pytest.mark.django_db(transaction=True)
def test_writer_count_outside_a_transaction(owner, settings):
    options = Options(redis_url=LEGACY_REDIS_URL, username=owner.username)
    settings.NUMINA_LEGACY_WRITERS = 3
    assert writer_count(options=options) == 3
    assert writer_count(options=Options(redis_url=LEGACY_REDIS_URL, dry_run=True)) == 1
    settings.NUMINA_LEGACY_WRITERS = 0
    assert writer_count(options=options) == 1


def _last_analyze() -> object:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s",
            [Message._meta.db_table],
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_run_that_imported_many_messages_ends_with_analyze(legacy_redis, owner, settings):
    from conversations.management.legacy_run import run_migration

    fill_history(legacy_redis, 5)
    settings.NUMINA_LEGACY_ANALYZE_AFTER = 100
    before = _last_analyze()
    run_migration(options=Options(redis_url=LEGACY_REDIS_URL, username=owner.username))
    assert _last_analyze() == before  # 15 messages: under the bound, no ANALYZE

    fill_history(legacy_redis, 40, per_key=4)  # 160 messages, 145 of them new
    run_migration(options=Options(redis_url=LEGACY_REDIS_URL, username=owner.username))
    analyzed = _last_analyze()
    assert analyzed is not None
    assert analyzed != before
