import threading
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from conversations import selectors, services
from conversations.models import ChangeCounter, Conversation, DeletedConversation, Message
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def add(user, conversation, content="hello", **kwargs):
    return services.add_message(
        user=user,
        conversation_id=conversation.id,
        role=kwargs.pop("role", "user"),
        content=content,
        **kwargs,
    )


@pytest.mark.django_db(transaction=True)
def test_add_message_assigns_next_seq_under_concurrency():
    user = UserFactory()
    conversation = services.create_conversation(user=user)
    writers = 50
    barrier = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            add(user, conversation, content=f"message {n}")
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    seqs = list(
        Message.objects.filter(conversation=conversation)
        .order_by("seq")
        .values_list("seq", flat=True)
    )
    assert seqs == list(range(1, writers + 1))
    conversation.refresh_from_db()
    assert conversation.message_count == writers


def test_add_message_updates_count_preview_and_activity(user):
    conversation = services.create_conversation(user=user)
    before = conversation.last_activity_at
    added = add(user, conversation, content="x" * 300)
    conversation.refresh_from_db()
    assert added.created
    assert added.message.seq == 1
    assert conversation.message_count == 1
    assert conversation.preview == "x" * 200
    assert conversation.last_activity_at >= before


def test_add_message_with_repeated_client_id_adds_nothing(user):
    conversation = services.create_conversation(user=user)
    client_id = uuid.uuid4()
    first = add(user, conversation, content="once", client_id=client_id)
    again = add(user, conversation, content="once", client_id=str(client_id))
    assert first.created is True
    assert again.created is False
    assert again.message.id == first.message.id
    conversation.refresh_from_db()
    assert conversation.message_count == 1
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_same_client_id_in_another_conversation_is_a_new_message(user):
    client_id = uuid.uuid4()
    one = services.create_conversation(user=user)
    two = services.create_conversation(user=user)
    assert add(user, one, client_id=client_id).created
    assert add(user, two, client_id=client_id).created


def test_create_conversation_with_title_tags_and_pin(user):
    conversation = services.create_conversation(
        user=user, title="  Trip plans ", tags=["travel", "travel", " japan "], is_pinned=True
    )
    assert conversation.title == "Trip plans"
    assert conversation.title_set_by_user is True
    assert conversation.is_pinned is True
    assert sorted(conversation.tags.values_list("name", flat=True)) == ["japan", "travel"]


def test_rename_marks_title_as_the_users(user):
    conversation = services.create_conversation(user=user)
    services.rename_conversation(user=user, conversation_id=conversation.id, title="Mine")
    conversation.refresh_from_db()
    assert (conversation.title, conversation.title_set_by_user) == ("Mine", True)


def test_archive_and_unarchive(user):
    conversation = services.create_conversation(user=user)
    services.archive_conversation(user=user, conversation_id=conversation.id)
    conversation.refresh_from_db()
    assert conversation.is_archived
    assert conversation.archived_at is not None
    services.unarchive_conversation(user=user, conversation_id=conversation.id)
    conversation.refresh_from_db()
    assert not conversation.is_archived
    assert conversation.archived_at is None


def test_pin_and_unpin(user):
    conversation = services.create_conversation(user=user)
    services.pin_conversation(user=user, conversation_id=conversation.id)
    assert Conversation.objects.get(id=conversation.id).is_pinned
    services.unpin_conversation(user=user, conversation_id=conversation.id)
    assert not Conversation.objects.get(id=conversation.id).is_pinned


def test_set_tags_replaces_and_reuses_the_users_tags(user):
    conversation = services.create_conversation(user=user, tags=["a", "b"])
    services.set_tags(user=user, conversation_id=conversation.id, tags=["b", "c"])
    assert sorted(conversation.tags.values_list("name", flat=True)) == ["b", "c"]
    assert user.tags.filter(name="b").count() == 1


def test_tags_of_two_users_are_separate(user, other_user):
    mine = services.create_conversation(user=user, tags=["work"])
    theirs = services.create_conversation(user=other_user, tags=["work"])
    assert mine.tags.get().owner == user
    assert theirs.tags.get().owner == other_user


def test_delete_moves_to_the_trash_and_records_the_deletion(user):
    conversation = services.create_conversation(user=user)
    add(user, conversation)
    services.delete_conversation(user=user, conversation_id=conversation.id)
    kept = Conversation.objects.get(id=conversation.id)
    assert kept.trashed_at is not None
    assert Message.objects.filter(conversation_id=conversation.id).count() == 1
    record = DeletedConversation.objects.get(conversation_id=conversation.id)
    assert (record.owner, record.change_seq) == (user, kept.change_seq)


def test_permanent_delete_removes_it_and_records_the_deletion(user):
    conversation = services.create_conversation(user=user)
    add(user, conversation)
    services.delete_conversation(user=user, conversation_id=conversation.id, permanent=True)
    assert not Conversation.objects.filter(id=conversation.id).exists()
    assert not Message.objects.filter(conversation_id=conversation.id).exists()
    assert DeletedConversation.objects.get(conversation_id=conversation.id).owner == user


def test_every_write_moves_the_change_stream_forward(user):
    conversation = services.create_conversation(user=user)
    seen = [conversation.change_seq]
    add(user, conversation)
    services.rename_conversation(user=user, conversation_id=conversation.id, title="t")
    services.archive_conversation(user=user, conversation_id=conversation.id)
    services.set_tags(user=user, conversation_id=conversation.id, tags=["x"])
    conversation.refresh_from_db()
    seen.append(conversation.change_seq)
    services.delete_conversation(user=user, conversation_id=conversation.id)
    seen.append(DeletedConversation.objects.get().change_seq)
    assert seen == [1, 5, 6]
    assert ChangeCounter.objects.get(owner=user).value == 6


def test_add_messages_appends_in_order_in_one_transaction(user):
    conversation = services.create_conversation(user=user)
    stored = services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[
            services.NewMessage(role="user", content="q"),
            services.NewMessage(role="assistant", content="a"),
        ],
    )
    assert [(m.seq, m.role) for m in stored] == [(1, "user"), (2, "assistant")]


def test_add_messages_stores_nothing_when_one_is_invalid(user):
    conversation = services.create_conversation(user=user)
    with pytest.raises(ValidationError) as caught:
        services.add_messages(
            user=user,
            conversation_id=conversation.id,
            messages=[
                services.NewMessage(role="user", content="ok"),
                services.NewMessage(role="robot", content="x"),
            ],
        )
    assert "messages[1].role" in caught.value.message_dict
    assert not Message.objects.exists()


# --- Another user's conversation is indistinguishable from a missing one ----------------

OTHER_USER_WRITES = {
    "add_message": lambda user, cid: services.add_message(
        user=user, conversation_id=cid, role="user", content="hi"
    ),
    "add_messages": lambda user, cid: services.add_messages(
        user=user, conversation_id=cid, messages=[services.NewMessage(role="user", content="hi")]
    ),
    "rename": lambda user, cid: services.rename_conversation(
        user=user, conversation_id=cid, title="mine now"
    ),
    "archive": lambda user, cid: services.archive_conversation(user=user, conversation_id=cid),
    "unarchive": lambda user, cid: services.unarchive_conversation(user=user, conversation_id=cid),
    "pin": lambda user, cid: services.pin_conversation(user=user, conversation_id=cid),
    "unpin": lambda user, cid: services.unpin_conversation(user=user, conversation_id=cid),
    "set_tags": lambda user, cid: services.set_tags(user=user, conversation_id=cid, tags=["x"]),
    "update": lambda user, cid: services.update_conversation(
        user=user, conversation_id=cid, is_pinned=True
    ),
    "delete": lambda user, cid: services.delete_conversation(user=user, conversation_id=cid),
    "get": lambda user, cid: selectors.get_conversation(user=user, conversation_id=cid),
    "list_messages": lambda user, cid: selectors.list_messages(user=user, conversation_id=cid),
}


@pytest.mark.parametrize("operation", OTHER_USER_WRITES.values(), ids=OTHER_USER_WRITES.keys())
def test_another_users_conversation_is_not_found(operation, user, other_user):
    theirs = services.create_conversation(user=other_user, title="Private")
    add(other_user, theirs, content="secret")
    before = Conversation.objects.filter(id=theirs.id).values().get()
    with pytest.raises(Conversation.DoesNotExist):
        operation(user, theirs.id)
    assert Conversation.objects.filter(id=theirs.id).values().get() == before
    assert Message.objects.filter(conversation=theirs).count() == 1


@pytest.mark.parametrize("operation", OTHER_USER_WRITES.values(), ids=OTHER_USER_WRITES.keys())
@pytest.mark.parametrize("bad_id", ["not-a-uuid", str(uuid.uuid4()), "", None])
def test_unknown_or_malformed_id_is_not_found(operation, bad_id, user):
    with pytest.raises(Conversation.DoesNotExist):
        operation(user, bad_id)
