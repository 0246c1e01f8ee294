"""Sync with messages (API.md, "Live updates and the offline queue"): each page carries
the messages stored since its token, each exactly once across pages, also while other
threads write, and never a message of a conversation the client has not received."""

import base64
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import issue_token
from conversations import cursors, services
from conversations.models import Message
from conversations.services import NewMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SYNC = "/api/v1/sync/"


def follow(api, *, since=None, page_size=None) -> dict:
    """Walk sync with messages to the end like a client, checking each page as it comes:
    a page's messages are of conversations received in it or before. What it held."""
    held: dict = {"conversations": {}, "messages": [], "deleted": [], "pages": 0}
    while True:
        params = {"include": "messages"}
        if since is not None:
            params["since"] = since
        if page_size is not None:
            params["page_size"] = page_size
        response = api.get(SYNC, params)
        assert response.status_code == 200, response.content
        body = response.json()
        for conversation in body["conversations"]:
            held["conversations"][conversation["id"]] = conversation
        for deleted in body["deleted"]:
            held["conversations"].pop(deleted, None)
        unknown = {m["conversation_id"] for m in body["messages"]} - set(held["conversations"])
        assert not unknown, "a message of a conversation the client has not received"
        if page_size is not None:
            assert len(body["messages"]) <= page_size
        held["messages"] += body["messages"]
        held["deleted"] += body["deleted"]
        held["pages"] += 1
        since = body["next_since"]
        if not body["has_more"]:
            held["since"] = since
            return held


def _ids(messages) -> list[str]:
    return [message["id"] for message in messages]


def _stored(user) -> set[str]:
    return {str(pk) for pk in Message.objects.filter(owner=user).values_list("id", flat=True)}


def _chat(user, *, title: str, replies: int):
    conversation = services.create_conversation(user=user, title=title)
    for n in range(replies):
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=f"{title} {n}"
        )
    return conversation


def test_from_the_beginning_every_message_comes_exactly_once_in_stored_order(api, user):
    first = _chat(user, title="first", replies=4)
    second = _chat(user, title="second", replies=3)
    # A change after the messages: the conversation's own place is after them.
    services.rename_conversation(user=user, conversation_id=first.id, title="renamed")
    # A branch: a new version of the second message, then a message under it.
    edited = Message.objects.get(conversation=first, seq=2)
    services.add_message(
        user=user,
        conversation_id=first.id,
        role="user",
        content="edited",
        parent_id=edited.parent_id,
    )
    services.add_messages(
        user=user,
        conversation_id=second.id,
        messages=[NewMessage(role="assistant", content=f"bulk {n}") for n in range(5)],
    )

    for page_size in (1, 2, 3, 7, 100):
        held = follow(api, page_size=page_size)
        ids = _ids(held["messages"])
        assert len(ids) == len(set(ids)) == len(_stored(user)) == 13
        assert set(ids) == _stored(user)
        stored_order = [
            str(pk)
            for pk in Message.objects.filter(owner=user)
            .order_by("created_at", "seq")
            .values_list("id", flat=True)
        ]
        assert ids == stored_order
        assert held["conversations"][str(first.id)]["title"] == "renamed"
        assert set(held["conversations"]) == {str(first.id), str(second.id)}

    # Nothing new: the last token answers an empty page, and keeps answering it.
    again = api.get(SYNC, {"include": "messages", "since": held["since"]}).json()
    assert (again["messages"], again["conversations"], again["has_more"]) == ([], [], False)
    assert again["next_since"] == held["since"]


def test_messages_are_in_the_api_shape_with_parent_and_siblings(api, user):
    conversation = _chat(user, title="tree", replies=2)
    first, second = Message.objects.filter(conversation=conversation).order_by("seq")
    version = services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="second, again",
        parent_id=first.id,
    ).message

    messages = {m["id"]: m for m in follow(api, page_size=2)["messages"]}

    assert set(messages[str(second.id)]) == {
        "id",
        "conversation_id",
        "seq",
        "role",
        "content",
        "attachments",
        "metadata",
        "client_id",
        "created_at",
        "parent_id",
        "sibling_ids",
        # Each uploaded file its attachments name (issue 17).
        "files",
    }
    assert messages[str(first.id)]["parent_id"] is None
    assert messages[str(first.id)]["sibling_ids"] == [str(first.id)]
    assert messages[str(version.id)]["parent_id"] == str(first.id)
    for message_id in (second.id, version.id):
        assert messages[str(message_id)]["sibling_ids"] == [str(second.id), str(version.id)]


def test_an_import_larger_than_a_page_spreads_over_pages_without_loss_or_repeat(
    api, user, settings
):
    settings.NUMINA_SYNC_PAGE_SIZE = 25
    before = _chat(user, title="before", replies=2)
    imported = services.import_conversation(
        user=user,
        title="imported",
        messages=[NewMessage(role="user", content=f"m{n}") for n in range(130)],
    )
    after = _chat(user, title="after", replies=1)

    held = follow(api)

    assert held["pages"] >= 6  # 136 messages and 3 conversations, 25 items a page
    ids = _ids(held["messages"])
    assert len(ids) == len(set(ids)) == 133
    imported_seqs = [m["seq"] for m in held["messages"] if m["conversation_id"] == str(imported.id)]
    assert imported_seqs == list(range(1, 131))
    assert set(held["conversations"]) == {str(before.id), str(imported.id), str(after.id)}


def test_a_token_inside_an_import_resumes_there_with_or_without_messages(api, user):
    imported = services.import_conversation(
        user=user,
        title="imported",
        messages=[NewMessage(role="user", content=f"m{n}") for n in range(30)],
    )
    page = api.get(SYNC, {"include": "messages", "page_size": 10}).json()
    assert [c["id"] for c in page["conversations"]] == [str(imported.id)]
    assert [m["seq"] for m in page["messages"]] == list(range(1, 10))
    assert page["has_more"] is True
    inside = page["next_since"]
    assert base64.urlsafe_b64decode(inside + "==").decode().startswith("v2:")

    rest = follow(api, since=inside, page_size=10)
    assert [m["seq"] for m in rest["messages"]] == list(range(10, 31))

    # Without include=messages the same token resumes after that change: the
    # conversation came with the first page, so nothing is left.
    plain = api.get(SYNC, {"since": inside}).json()
    assert (plain["conversations"], plain["deleted"], plain["has_more"]) == ([], [], False)
    assert "messages" not in plain


def test_a_plain_token_is_accepted_with_messages_and_the_answer_without_is_unchanged(api, user):
    old = _chat(user, title="old", replies=2)
    plain = api.get(SYNC).json()
    assert set(plain) == {"conversations", "deleted", "next_since", "has_more"}
    assert base64.urlsafe_b64decode(plain["next_since"] + "==").decode().startswith("v1:")

    newer = services.add_message(
        user=user, conversation_id=old.id, role="assistant", content="newer"
    ).message
    held = follow(api, since=plain["next_since"])
    assert _ids(held["messages"]) == [str(newer.id)]
    assert list(held["conversations"]) == [str(old.id)]


def test_a_deleted_conversation_s_messages_stop_coming_and_the_deletion_comes(api, user):
    kept = _chat(user, title="kept", replies=1)
    gone = _chat(user, title="gone", replies=3)
    services.delete_conversation(user=user, conversation_id=gone.id)

    held = follow(api, page_size=2)

    assert {m["conversation_id"] for m in held["messages"]} == {str(kept.id)}
    assert held["deleted"] == [str(gone.id)]
    assert list(held["conversations"]) == [str(kept.id)]


def test_another_users_messages_never_appear(api, user, other_user):
    _chat(other_user, title="theirs", replies=3)
    services.import_conversation(
        user=other_user, messages=[NewMessage(role="user", content="x")] * 5
    )
    mine = _chat(user, title="mine", replies=1)

    held = follow(api, page_size=2)

    assert {m["conversation_id"] for m in held["messages"]} == {str(mine.id)}
    assert set(_ids(held["messages"])) == _stored(user)
    assert list(held["conversations"]) == [str(mine.id)]


@pytest.mark.parametrize(
    "params",
    [
        {"include": "conversations"},
        {"include": "messages,conversations"},
        {"include": "messages", "since": "garbage"},
        {"include": "messages", "since": "djI6MTI"},  # "v2:12": no seq
        {"include": "messages", "since": "djI6MTI6LTE"},  # "v2:12:-1"
        {"include": "messages", "since": "djI6MTI6OTk5OTk5OTk5OTk"},  # seq past a PositiveInt
        {"include": "messages", "since": "djM6MTI6MQ"},  # "v3:12:1"
    ],
)
def test_a_bad_include_or_since_is_a_400(api, user, params):
    _chat(user, title="any", replies=1)
    response = api.get(SYNC, params)
    assert response.status_code == 400, response.content
    (field,) = set(response.json())
    assert field in {"include", "since"}
    assert field in params


def test_the_tokens_read_back_inside_a_change():
    token = cursors.sync_token(position=41, message_seq=7)
    assert cursors.sync_point(token=token) == cursors.SyncPoint(change=41, message_seq=7)
    assert cursors.sync_position(token=token) == 41
    assert cursors.sync_point(token=cursors.sync_token(position=41)) == cursors.SyncPoint(41)


def _a_page_of(user, *, messages: int):
    conversation = services.create_conversation(user=user, tags=["a", "b"])
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[NewMessage(role="user", content=f"m{n}") for n in range(messages)],
    )
    # Its own place after the messages: every page holds it as the messages' conversation.
    services.rename_conversation(user=user, conversation_id=conversation.id, title="later")


def test_a_page_costs_the_same_queries_for_1_and_for_100_messages(
    user, other_user, token_for, django_assert_num_queries
):
    counts = []
    for owner, messages in ((user, 1), (other_user, 150)):
        _a_page_of(owner, messages=messages)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(owner)}")
        # The token with its user, the newest change number, conversations, deletions,
        # batches, messages, their conversations, their siblings.
        with django_assert_num_queries(8) as captured:
            body = client.get(SYNC, {"include": "messages", "page_size": 100}).json()
        counts.append((len(body["messages"]), len(captured)))
    assert counts == [(1, 8), (100, 8)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_make_a_client_miss_or_repeat_a_message():
    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user)[0]}")
    shared = [services.create_conversation(user=user, title=f"shared {n}") for n in range(2)]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            own = services.create_conversation(user=user, title=f"own {n}")
            for i in range(12):
                target = own if i % 2 else shared[i % 4 // 2]
                if i % 5 == 4:
                    services.add_messages(
                        user=user,
                        conversation_id=target.id,
                        messages=[
                            NewMessage(role="user", content=f"{n}.{i}.{k}") for k in range(4)
                        ],
                    )
                else:
                    services.add_message(
                        user=user, conversation_id=target.id, role="user", content=f"{n}.{i}"
                    )
                if i % 4 == 3:
                    services.rename_conversation(
                        user=user, conversation_id=target.id, title=f"{n}.{i}"
                    )
        except BaseException as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    delivered: list[str] = []
    since = None
    while any(thread.is_alive() for thread in threads):
        held = follow(client, since=since, page_size=3)
        delivered += _ids(held["messages"])
        since = held["since"]
    for thread in threads:
        thread.join()
    held = follow(client, since=since, page_size=3)
    delivered += _ids(held["messages"])

    assert not errors, errors
    assert len(delivered) == len(set(delivered))
    assert set(delivered) == _stored(user)
    assert len(delivered) == 4 * (10 * 1 + 2 * 4)


def test_messages_of_every_insert_path_come(api, user):
    from conversations.legacy.base import make_message
    from conversations.services.legacy_import import import_legacy_conversation

    def legacy(*contents):
        return [make_message(raw=c.encode(), role="user", content=c) for c in contents]

    import_legacy_conversation(user=user, legacy_key="k", messages=legacy("a", "b"))  # COPY
    first = follow(api)
    import_legacy_conversation(user=user, legacy_key="k", messages=legacy("a", "b", "c"))
    services.import_document(
        user=user,
        document={"conversation": {"title": "t"}, "messages": [{"role": "user", "content": "d"}]},
    )
    _chat(user, title="chat", replies=1)

    rest = follow(api, since=first["since"])

    assert [m["content"] for m in first["messages"]] == ["a", "b"]
    assert [m["content"] for m in rest["messages"]] == ["c", "d", "chat 0"]
    assert set(_ids(first["messages"] + rest["messages"])) == _stored(user)
