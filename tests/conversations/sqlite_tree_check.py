"""The tree's writes on the embedded SQLite default, run in a process of its own by
test_sqlite_tree.py (the suite's database is PostgreSQL): migration 0007 on rows stored
before the tree, the legacy import's bulk path, an import of a branched document, and
sync with messages over what those stored (the batches take their own statement here),
and the hot reads' sibling ids (a second query here; PostgreSQL reads them with the rows)
and search's answer rows (no full-text index here: a substring match).
Prints one line per part that holds; an assertion error ends it otherwise."""

import os
import uuid

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "numina.settings"
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import User  # noqa: E402
from conversations import cursors, selectors, services  # noqa: E402
from conversations.legacy.base import make_message  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402
from conversations.selectors import branches  # noqa: E402
from conversations.services.legacy_import import import_legacy_conversation  # noqa: E402


def _tree(conversation_id) -> list[tuple]:
    """(id, parent_id, depth) in seq order."""
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .values_list("id", "parent_id", "depth")
    )


def _assert_straight(conversation_id) -> None:
    rows = _tree(conversation_id)
    parents = [None, *(id_ for id_, _, _ in rows)][: len(rows)]
    assert [(parent, depth) for _, parent, depth in rows] == [
        (parent, depth) for depth, parent in enumerate(parents, start=1)
    ], rows
    assert Conversation.objects.get(id=conversation_id).current_message_id == rows[-1][0]


def migration() -> User:
    call_command("migrate", "conversations", "0005", verbosity=0)
    # The user is made with today's model: its table as today's (memory_enabled …).
    call_command("migrate", "accounts", verbosity=0)
    user = User.objects.create(username="sqlite")
    conversation_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO conversations_conversation (id, owner_id, title, title_set_by_user,"
            " summary, summary_covers_seq, is_archived, is_pinned, message_count, preview,"
            " last_activity_at, created_at, updated_at, change_seq) VALUES (%s, %s, '', 0, '',"
            " 0, 0, 0, 3, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0)",
            [conversation_id.hex, user.pk.hex],
        )
        for seq in (1, 2, 3):
            cursor.execute(
                "INSERT INTO conversations_message (id, conversation_id, owner_id, seq, role,"
                " content, attachments, metadata, created_at) VALUES (%s, %s, %s, %s, 'user',"
                " %s, '[]', '{}', CURRENT_TIMESTAMP)",
                [uuid.uuid4().hex, conversation_id.hex, user.pk.hex, seq, f"m{seq}"],
            )
    call_command("migrate", verbosity=0)
    _assert_straight(conversation_id)
    print("migration ok")
    return user


def legacy_import(user: User) -> None:
    def messages(*contents):
        return [make_message(raw=c.encode(), role="user", content=c) for c in contents]

    import_legacy_conversation(user=user, legacy_key="k", messages=messages("a", "b"))
    import_legacy_conversation(user=user, legacy_key="k", messages=messages("a", "b", "c"))
    _assert_straight(Conversation.objects.get(legacy_key="k").id)
    print("legacy ok")


def branched_import(user: User) -> None:
    root, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    document = {
        "conversation": {"title": "t", "current_message_id": first},
        "messages": [
            {"id": root, "parent_id": None, "role": "user", "content": "root"},
            {"id": first, "parent_id": root, "role": "assistant", "content": "first"},
            {"id": second, "parent_id": root, "role": "assistant", "content": "second"},
        ],
    }
    conversation = services.import_document(user=user, document=document)
    shown = branches.branch(
        conversation_id=conversation.id, leaf_id=conversation.current_message_id
    ).values_list("content", flat=True)
    assert list(shown) == ["root", "first"], list(shown)
    print("import ok")


def sync_with_messages(user: User) -> None:
    """Every message the services stored comes once (the one migrated with change 0
    never had a place in sync), page after page of 2."""
    since, seen = cursors.SyncPoint(change=0), []
    while True:
        page = selectors.sync_changes(user=user, since=since, limit=2, include_messages=True)
        seen += [message.id for message in page.messages]
        since = cursors.SyncPoint(change=page.next_since, message_seq=page.next_message_seq)
        if not page.has_more:
            break
    stored = Message.objects.filter(owner=user, conversation__change_seq__gt=0)
    assert sorted(seen) == sorted(stored.values_list("id", flat=True)), seen
    assert len(seen) == 6, seen  # legacy a, b, c; the import's three
    print("sync ok")


def hot_reads(user: User) -> None:
    """Retrieve's rows and the messages page carry each message's versions, as
    attach_sibling_ids gives them (branches.answer_rows has no ARRAY() on SQLite)."""
    conversation = services.create_conversation(user=user, title="versions")
    first = services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="hello"
    ).message
    again = services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="hello again",
        parent_id=services.NO_PARENT,
    ).message
    conversation.refresh_from_db()
    recent = branches.recent_messages(
        user=user,
        conversation=conversation,
        limit=5,
        columns=["id", "parent_id", "conversation_id", "attachments"],
    )
    assert [row["sibling_ids"] for row in recent] == [[first.id, again.id]], recent
    rows = branches.answer_rows(
        Message.objects.filter(conversation=conversation).order_by("seq"),
        columns=["id", "parent_id", "conversation_id", "attachments"],
    )
    page = list(rows)
    branches.complete_answer_rows(rows=page)
    assert [row["sibling_ids"] for row in page] == [[first.id, again.id]] * 2, page
    found = selectors.search_answer_rows(
        selectors.search_messages(user=user, query="again"), "id", "rank", "snippet"
    )
    assert list(found) == [
        {"id": again.id, "rank": 1.0, "snippet": "hello again", "conversation_title": "versions"}
    ], found
    print("reads ok")


if __name__ == "__main__":
    assert connection.vendor == "sqlite", connection.vendor
    owner = migration()
    legacy_import(owner)
    branched_import(owner)
    sync_with_messages(owner)
    hot_reads(owner)
