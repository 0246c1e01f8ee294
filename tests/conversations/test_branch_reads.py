"""The branch reads the API serves (selectors.branches / selectors), at the service level:
the walk up a branch bounded by after_seq, and a new first message (NO_PARENT)."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import selectors, services
from conversations.models import Message
from conversations.selectors import branches

pytestmark = pytest.mark.django_db


def add(user, conversation, content, **kwargs) -> Message:
    return services.add_message(
        user=user, conversation_id=conversation.id, role="user", content=content, **kwargs
    ).message


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


def test_branch_after_seq_gives_only_the_later_part_of_the_branch(user, conversation):
    messages = [add(user, conversation, f"m{n}") for n in range(6)]
    side = add(user, conversation, "side", parent_id=messages[2].id)
    leaf = messages[-1].id

    def read(**kwargs) -> list[str]:
        return [
            m.content
            for m in branches.branch(conversation_id=conversation.id, leaf_id=leaf, **kwargs)
        ]

    assert read() == [f"m{n}" for n in range(6)]
    assert read(after_seq=messages[3].seq) == ["m4", "m5"]
    assert read(after_seq=messages[3].seq, limit=1) == ["m5"]
    assert read(after_seq=messages[-1].seq) == []
    # The side branch's seq is higher than every message of this branch: none is after it.
    assert read(after_seq=side.seq) == []


def test_the_walk_up_stops_at_after_seq(user, conversation):
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[services.NewMessage(role="user", content=f"m{n}") for n in range(300)],
    )
    conversation.refresh_from_db()
    # The ids subquery itself: how far the walk went, which the queryset cannot show.
    ids = branches._branch_ids(  # noqa: SLF001
        conversation_id=conversation.id,
        leaf_id=conversation.current_message_id,
        limit=None,
        after_seq=297,
    )
    with connection.cursor() as cursor:
        # The CTE itself, counted: three rows walked, not three hundred.
        cursor.execute(f"SELECT count(*) FROM ({ids.sql}) walked", ids.params)  # noqa: S608
        assert cursor.fetchone()[0] == 3


def test_no_parent_adds_a_new_version_of_the_first_message(user, conversation):
    first = add(user, conversation, "first")
    add(user, conversation, "second")

    again = add(user, conversation, "first, again", parent_id=services.NO_PARENT)

    conversation.refresh_from_db()
    assert (again.parent_id, again.depth, again.seq) == (None, 1, 3)
    assert conversation.current_message_id == again.id
    selectors.attach_sibling_ids(messages=[again])
    assert again.sibling_ids == [first.id, again.id]


def test_a_chat_with_no_parent_needs_no_conversation(user, offline):
    result = services.chat(user=user, message="hello", parent_id=services.NO_PARENT)

    assert (result.user_message.parent_id, result.assistant_message.parent_id) == (
        None,
        result.user_message.id,
    )


def test_a_chat_with_a_parent_needs_its_conversation(user, offline):
    first = services.chat(user=user, message="hello")

    with pytest.raises(ValidationError) as raised:
        services.chat(user=user, message="again", parent_id=first.user_message.id)

    assert set(raised.value.message_dict) == {"parent_id"}
    assert Message.objects.count() == 2


def test_attach_sibling_ids_is_one_query_for_a_page_and_none_for_none(user, conversation):
    messages = [add(user, conversation, f"m{n}") for n in range(30)]
    for message in messages[1::3]:
        add(user, conversation, "version", parent_id=message.parent_id)

    with CaptureQueriesContext(connection) as queries:
        selectors.attach_sibling_ids(messages=messages)
        selectors.attach_sibling_ids(messages=[])

    assert len(queries) == 1
    assert all(message.id in message.sibling_ids for message in messages)
    assert [len(message.sibling_ids) for message in messages[:4]] == [1, 2, 1, 1]
