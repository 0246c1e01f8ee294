"""POST /api/v1/conversations/bulk/ (API.md, "Sharing and bulk actions"): one action on
many conversations, each through its single action's service (one change each), another
user's ids a 404 in their row with nothing of theirs changed, a wrong request a 400 that
applies nothing, and a fixed number of queries per id."""

import uuid

import pytest
from django.core.management import call_command

from conversations import selectors, services
from conversations.models import Conversation, DeletedConversation, Message, Tag

pytestmark = pytest.mark.django_db

BULK = "/api/v1/conversations/bulk/"
LIST = "/api/v1/conversations/"


def make(user, title="A chat", **kwargs) -> Conversation:
    return services.create_conversation(user=user, title=title, **kwargs)


def bulk(api, ids, action, **extra):
    return api.post(BULK, {"ids": [str(i) for i in ids], "action": action, **extra}, format="json")


def rows(response) -> list[tuple[str, int]]:
    assert response.status_code == 200, response.content
    return [(row["id"], row["status"]) for row in response.json()["results"]]


def fresh(conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


def tags_of(conversation) -> list[str]:
    return sorted(fresh(conversation).tags.values_list("name", flat=True))


def snapshot(conversation) -> tuple:
    return (
        Conversation.objects.filter(pk=conversation.pk).values().first(),
        tags_of(conversation),
        list(Message.objects.filter(conversation=conversation).values()),
    )


# --- each action -----------------------------------------------------------------------


def test_archive_then_unarchive_each_conversation(api, user):
    chats = [make(user) for _ in range(3)]

    assert rows(bulk(api, [c.id for c in chats], "archive")) == [(str(c.id), 200) for c in chats]
    assert all(fresh(c).is_archived and fresh(c).archived_at for c in chats)

    assert rows(bulk(api, [c.id for c in chats], "unarchive")) == [(str(c.id), 200) for c in chats]
    assert not any(fresh(c).is_archived for c in chats)


def test_pin_then_unpin(api, user):
    chats = [make(user) for _ in range(2)]

    bulk(api, [c.id for c in chats], "pin")
    assert all(fresh(c).is_pinned for c in chats)

    bulk(api, [c.id for c in chats], "unpin")
    assert not any(fresh(c).is_pinned for c in chats)


def test_delete_moves_to_the_trash_and_restore_brings_back(api, user):
    chats = [make(user) for _ in range(2)]

    assert {s for _, s in rows(bulk(api, [c.id for c in chats], "delete"))} == {200}
    assert all(fresh(c).trashed_at for c in chats)
    assert DeletedConversation.objects.filter(owner=user).count() == 2
    assert api.get(LIST).json()["results"] == []

    assert {s for _, s in rows(bulk(api, [c.id for c in chats], "restore"))} == {200}
    assert not any(fresh(c).trashed_at for c in chats)
    assert len(api.get(LIST).json()["results"]) == 2


def test_delete_never_deletes_for_good_and_repeats_answer_the_same(api, user):
    chat = make(user)
    bulk(api, [chat.id], "delete")

    again = bulk(api, [chat.id], "delete")

    assert rows(again) == [(str(chat.id), 200)]
    assert fresh(chat).trashed_at is not None  # still in the trash, not gone


def test_restoring_one_that_is_not_in_the_trash_is_done_and_changes_nothing(api, user):
    chat = make(user)
    before = snapshot(chat)

    assert rows(bulk(api, [chat.id], "restore")) == [(str(chat.id), 200)]
    assert snapshot(chat) == before


def test_add_tags_keeps_the_tags_a_conversation_has(api, user):
    first = make(user, tags=["work"])
    second = make(user)

    bulk(api, [first.id, second.id], "add_tags", tags=["trip", "work"])

    assert tags_of(first) == ["trip", "work"]
    assert tags_of(second) == ["trip", "work"]
    assert Tag.objects.filter(owner=user).count() == 2


def test_remove_tags_takes_only_those_off(api, user):
    chat = make(user, tags=["trip", "work", "home"])

    bulk(api, [chat.id], "remove_tags", tags=["work", "not-there"])

    assert tags_of(chat) == ["home", "trip"]


def test_add_tags_past_the_bound_is_a_400_in_that_row_only(api, user, settings):
    settings.NUMINA_MAX_TAGS = 2
    full = make(user, tags=["a", "b"])
    room = make(user)

    response = bulk(api, [full.id, room.id], "add_tags", tags=["c"])

    full_row, room_row = response.json()["results"]
    assert full_row["status"] == 400
    assert "tags" in full_row["errors"]
    assert room_row == {"id": str(room.id), "status": 200}
    assert tags_of(full) == ["a", "b"]
    assert tags_of(room) == ["c"]


def test_a_repeated_id_is_acted_on_once(api, user):
    chat = make(user)

    assert rows(bulk(api, [chat.id, chat.id], "delete")) == [(str(chat.id), 200)]


# --- one change each -------------------------------------------------------------------


def test_each_conversation_is_its_own_change_in_sync(api, user):
    chats = [make(user) for _ in range(3)]
    since = api.get("/api/v1/sync/").json()["next_since"]

    bulk(api, [c.id for c in chats], "archive")

    changed = api.get("/api/v1/sync/", {"since": since}).json()
    assert sorted(c["id"] for c in changed["conversations"]) == sorted(str(c.id) for c in chats)
    assert all(c["is_archived"] for c in changed["conversations"])
    seqs = [fresh(c).change_seq for c in chats]
    assert len(set(seqs)) == 3  # three change numbers: three cache invalidations and events


def test_the_cached_list_sees_every_change(api, user):
    chats = [make(user) for _ in range(3)]
    assert len(api.get(LIST).json()["results"]) == 3
    assert api.get(LIST)["X-Cache"] == "hit"

    bulk(api, [c.id for c in chats[:2]], "archive")

    response = api.get(LIST)
    assert response["X-Cache"] == "miss"
    assert [c["id"] for c in response.json()["results"]] == [str(chats[2].id)]


def test_a_trashed_conversation_reports_deleted_in_sync(api, user):
    chat = make(user)
    since = api.get("/api/v1/sync/").json()["next_since"]

    bulk(api, [chat.id], "delete")

    assert api.get("/api/v1/sync/", {"since": since}).json()["deleted"] == [str(chat.id)]


# --- other users -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "action", ["archive", "pin", "delete", "restore", "add_tags", "remove_tags"]
)
def test_another_users_ids_are_404_in_their_rows_and_nothing_of_theirs_changes(
    api, user, other_user, action
):
    mine = make(user, tags=["x"])
    theirs = make(other_user, title="private", tags=["x"])
    their_trashed = make(other_user)
    services.trash_conversation(user=other_user, conversation_id=their_trashed.id)
    before = [snapshot(theirs), snapshot(their_trashed)]
    missing = uuid.uuid4()
    extra = {"tags": ["x"]} if action.endswith("_tags") else {}

    response = bulk(api, [theirs.id, mine.id, their_trashed.id, missing], action, **extra)

    assert rows(response) == [
        (str(theirs.id), 404),
        (str(mine.id), 200),
        (str(their_trashed.id), 404),
        (str(missing), 404),
    ]
    assert [snapshot(theirs), snapshot(their_trashed)] == before


def test_a_trashed_conversation_is_404_for_every_action_but_delete_and_restore(api, user):
    chat = make(user)
    services.trash_conversation(user=user, conversation_id=chat.id)

    assert rows(bulk(api, [chat.id], "archive")) == [(str(chat.id), 404)]
    assert not fresh(chat).is_archived


# --- bad input -------------------------------------------------------------------------


def _nothing_applied(user, chat):
    assert not fresh(chat).is_archived
    assert tags_of(chat) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"action": "archive"}, "ids", id="ids missing"),
        pytest.param({"ids": [], "action": "archive"}, "ids", id="ids empty"),
        pytest.param({"ids": "abc", "action": "archive"}, "ids", id="ids not a list"),
        pytest.param({"ids": ["not-a-uuid"], "action": "archive"}, "ids", id="not a uuid"),
        pytest.param({"ids": [12345], "action": "archive"}, "ids", id="a number"),
        pytest.param({"ids": ["CHAT"], "action": "explode"}, "action", id="unknown action"),
        pytest.param({"ids": ["CHAT"]}, "action", id="action missing"),
        pytest.param({"ids": ["CHAT"], "action": "add_tags"}, "tags", id="add_tags no tags"),
        pytest.param(
            {"ids": ["CHAT"], "action": "add_tags", "tags": []}, "tags", id="add_tags empty"
        ),
        pytest.param({"ids": ["CHAT"], "action": "remove_tags"}, "tags", id="remove_tags no tags"),
        pytest.param(
            {"ids": ["CHAT"], "action": "add_tags", "tags": [" "]}, "tags", id="a blank tag"
        ),
        pytest.param(
            {"ids": ["CHAT"], "action": "add_tags", "tags": ["x" * 51]}, "tags", id="tag too long"
        ),
        pytest.param(
            {"ids": ["CHAT"], "action": "archive", "tags": ["x"]}, "tags", id="tags not wanted"
        ),
    ],
)
def test_a_wrong_request_is_a_400_and_applies_nothing(api, user, body, field):
    chat = make(user)
    if isinstance(body.get("ids"), list):
        body = {**body, "ids": [str(chat.id) if i == "CHAT" else i for i in body["ids"]]}

    response = api.post(BULK, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    _nothing_applied(user, chat)


def test_more_than_the_bound_of_ids_is_a_400(api, user, settings):
    chat = make(user)
    ids = [str(chat.id)] + [str(uuid.uuid4()) for _ in range(100)]

    response = api.post(BULK, {"ids": ids, "action": "archive"}, format="json")

    assert response.status_code == 400
    assert response.json()["ids"] == ["Ensure this field has no more than 100 elements."]
    _nothing_applied(user, chat)


def test_the_bound_is_a_setting(api, user, settings):
    settings.NUMINA_BULK_MAX_IDS = 2
    ids = [str(make(user).id) for _ in range(3)]

    assert bulk(api, ids, "archive").status_code == 400
    assert rows(bulk(api, ids[:2], "archive")) == [(i, 200) for i in ids[:2]]


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.generic("POST", BULK, "{", content_type="application/json")

    assert response.status_code == 400


def test_without_credentials_401(anon_api, user):
    chat = make(user)

    assert bulk(anon_api, [chat.id], "archive").status_code == 401
    assert not fresh(chat).is_archived


def test_each_id_counts_against_the_user_rate(api, user, throttle_rates):
    throttle_rates(user="10/min")
    ids = [make(user).id for _ in range(8)]
    assert bulk(api, ids, "pin").status_code == 200

    assert bulk(api, ids[:5], "unpin").status_code == 429
    assert all(fresh(Conversation(pk=i)).is_pinned for i in ids)


# --- cost ------------------------------------------------------------------------------

# Per id: the single action's savepoint, row lock, change counter and update (the tag
# actions also read and write the tags; moving to the trash also ends the chat's share
# links), never a query that grows with the list.
PER_ID = {"archive": 5, "delete": 7, "restore": 7, "add_tags": 10}
FIXED = 4  # authentication and the request's own reads


@pytest.mark.parametrize("count", [10, 100])
@pytest.mark.parametrize("action", list(PER_ID))
def test_queries_grow_by_a_fixed_number_per_id(
    api, user, django_assert_max_num_queries, count, action
):
    ids = [make(user).id for _ in range(count)]
    if action == "restore":
        bulk(api, ids, "delete")
    extra = {"tags": ["trip"]} if action == "add_tags" else {}

    with django_assert_max_num_queries(FIXED + PER_ID[action] * count):
        assert {s for _, s in rows(bulk(api, ids, action, **extra))} == {200}

    assert selectors.change_position(user=user) >= 2 * count  # one change each


# --- the schema ------------------------------------------------------------------------


def test_the_schema_describes_bulk(tmp_path):
    import yaml

    call_command("spectacular", "--file", str(tmp_path / "s.yml"))
    schema = yaml.safe_load((tmp_path / "s.yml").read_text())
    operation = schema["paths"]["/api/v1/conversations/bulk/"]["post"]
    components = schema["components"]["schemas"]
    request = components["BulkInputRequest"]

    assert set(operation["responses"]) >= {"200", "400"}
    assert sorted(request["required"]) == ["action", "ids"]
    assert request["properties"]["ids"]["maxItems"] == 100
    assert request["properties"]["ids"]["items"]["format"] == "uuid"
    action = components[request["properties"]["action"]["$ref"].split("/")[-1]]
    assert action["enum"] == [
        "archive", "unarchive", "pin", "unpin", "delete", "restore", "add_tags", "remove_tags"
    ]  # fmt: skip
    result = components["BulkResult"]
    assert set(result["required"]) == {"id", "status"}
