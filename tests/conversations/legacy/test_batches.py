"""Many conversations per transaction: all or nothing, and one bad key loses only itself."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.legacy.base import make_message
from conversations.legacy.report import Report
from conversations.legacy.snapshot import LegacyRedis
from conversations.management.legacy_run import Options, Owners, migrate_keys
from conversations.models import ChangeCounter, Conversation, Message, MessageBatch
from conversations.services.legacy_import import (
    LegacyImport,
    import_legacy_batch,
    import_legacy_conversation,
)

from .conftest import LEGACY_REDIS_URL, conversation_for, fill_history, stored

pytestmark = pytest.mark.django_db

# A lone surrogate: valid JSON, a Python str, but not UTF-8, so PostgreSQL's COPY (and
# any INSERT) refuses the row: a key the database cannot store, found only on writing.
UNSTORABLE = '{"role": "user", "content": "\\ud800"}'


def _messages(*contents):
    return [make_message(raw=c.encode(), role="user", content=c) for c in contents]


def _run(user, **options) -> Report:
    source = LegacyRedis(LEGACY_REDIS_URL)
    report = Report()
    migrate_keys(
        source.scan(["*"], count=100),
        source=source,
        options=Options(redis_url=LEGACY_REDIS_URL, username=user.username, **options),
        owners=Owners(username=user.username, user_map=None),
        report=report,
    )
    return report


def test_a_batch_is_one_transaction_with_no_insert_per_conversation(legacy_redis, user):
    fill_history(legacy_redis, 30)

    with CaptureQueriesContext(connection) as queries:
        report = _run(user, batch_size=100, batch_conversations=100)

    assert (report.conversations_created, report.messages_imported) == (30, 90)
    sql = [query["sql"] for query in queries.captured_queries]
    # The conversations, their change batches and their messages all go in by COPY
    # (numina/bulk_insert.py, copy_message_rows), which the ORM's log does not show.
    assert not [q for q in sql if q.startswith('INSERT INTO "conversations_conversation"')]
    assert not [q for q in sql if q.startswith('INSERT INTO "conversations_messagebatch"')]
    assert len(sql) < 15, sql
    # SAVEPOINT / RELEASE bracket each atomic block: one for the whole batch.
    assert len([q for q in sql if q.startswith("SAVEPOINT")]) == 1
    assert Message.objects.count() == 90
    assert all(c.message_count == 3 for c in Conversation.objects.all())


def test_every_conversation_of_a_batch_gets_its_own_change_number(legacy_redis, user):
    fill_history(legacy_redis, 5)

    _run(user, batch_conversations=5)

    seqs = sorted(Conversation.objects.values_list("change_seq", flat=True))
    assert seqs == list(range(1, 6))
    assert ChangeCounter.objects.get(owner=user).value == 5
    batches = MessageBatch.objects.filter(owner=user)
    assert sorted(b.change_seq for b in batches) == seqs
    assert {(b.first_seq, b.last_seq) for b in batches} == {(1, 3)}


def test_a_key_the_database_refuses_loses_only_itself(legacy_redis, user):
    fill_history(legacy_redis, 9)
    legacy_redis.rpush("history:bad", '{"role": "user", "content": "fine"}', UNSTORABLE)

    report = _run(user, batch_size=100, batch_conversations=100)

    assert report.failed_key_count == 1
    assert report.failed_keys[0]["key"] == "history:bad"
    assert report.conversations_created == 9
    assert report.messages_imported == 27
    assert not Conversation.objects.filter(legacy_key__endswith=":history:bad").exists()
    assert stored(conversation_for("llamaindex", "history:4")) == [
        ("user", "4/0"),
        ("user", "4/1"),
        ("user", "4/2"),
    ]


def test_a_batch_rolled_back_by_a_bad_key_is_whole_on_the_rerun(legacy_redis, user):
    fill_history(legacy_redis, 4)
    legacy_redis.rpush("history:bad", UNSTORABLE)
    _run(user, batch_conversations=10)
    legacy_redis.delete("history:bad")

    report = _run(user, batch_conversations=10)

    assert (report.messages_imported, report.messages_already_present) == (0, 12)
    assert Message.objects.count() == 12


def test_grown_and_new_keys_share_a_batch(legacy_redis, user):
    fill_history(legacy_redis, 3)
    _run(user)
    legacy_redis.rpush("history:1", json.dumps({"role": "assistant", "content": "more"}))
    _fill_one = [json.dumps({"role": "user", "content": "new"})]
    legacy_redis.rpush("history:new", *_fill_one)

    report = _run(user, batch_conversations=10)

    assert (report.conversations_created, report.conversations_updated) == (1, 1)
    assert (report.messages_imported, report.messages_already_present) == (2, 9)
    grown = conversation_for("llamaindex", "history:1")
    assert grown.message_count == 4
    assert grown.current_message.content == "more"
    assert grown.current_message.depth == 4


def test_batch_of_one_conversation_per_transaction_still_imports_everything(legacy_redis, user):
    fill_history(legacy_redis, 7)

    report = _run(user, batch_size=3, batch_conversations=1)

    assert (report.conversations_created, report.messages_imported) == (7, 21)


def test_another_owners_key_in_a_batch_is_refused_and_the_rest_imported(
    legacy_redis, user, other_user
):
    import_legacy_conversation(
        user=other_user, legacy_key="llamaindex:7:theirs", messages=_messages("x")
    )

    outcomes = import_legacy_batch(
        imports=[
            LegacyImport(user=user, legacy_key="llamaindex:7:theirs", messages=_messages("y")),
            LegacyImport(user=user, legacy_key="llamaindex:7:mine", messages=_messages("z")),
        ]
    )

    assert outcomes[0].refused
    assert (outcomes[1].created, outcomes[1].imported) == (True, 1)
    theirs = Conversation.objects.get(legacy_key="llamaindex:7:theirs")
    assert (theirs.owner, theirs.message_count) == (other_user, 1)


def test_a_legacy_key_twice_in_one_batch_is_refused_whole(user):
    with pytest.raises(ValueError, match="twice"):
        import_legacy_batch(
            imports=[
                LegacyImport(user=user, legacy_key="k", messages=_messages("a")),
                LegacyImport(user=user, legacy_key="k", messages=_messages("a", "b")),
            ]
        )

    assert not Conversation.objects.exists()


def test_a_key_scanned_twice_goes_into_the_next_transaction(legacy_redis, user):
    fill_history(legacy_redis, 2)
    source = LegacyRedis(LEGACY_REDIS_URL)
    report = Report()

    # SCAN may return a key more than once.
    migrate_keys(
        [b"history:0", b"history:1", b"history:0"],
        source=source,
        options=Options(redis_url=LEGACY_REDIS_URL, username=user.username),
        owners=Owners(username=user.username, user_map=None),
        report=report,
    )

    assert report.ok
    assert report.conversations_created == 2
    assert (report.messages_imported, report.messages_already_present) == (6, 3)


def test_dry_run_of_a_batch_writes_nothing(legacy_redis, user):
    fill_history(legacy_redis, 3)
    _run(user)
    legacy_redis.rpush("history:0", json.dumps({"role": "user", "content": "later"}))
    _fill_more = json.dumps({"role": "user", "content": "x"})
    legacy_redis.rpush("history:new", _fill_more)

    report = _run(user, dry_run=True)

    assert (report.conversations_created, report.messages_imported) == (1, 2)
    assert Message.objects.count() == 9
