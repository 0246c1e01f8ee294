"""POST /api/v1/batch/, the offline queue (API.md, "Live updates and the offline queue"):
each operation answered as its own endpoint would, in order, each on its own, idempotent
so a whole queue can be replayed; a wrong envelope is a 400 that applies nothing."""

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services
from conversations.models import Conversation, DeletedConversation, Message, Tag

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/batch/"
LIST = "/api/v1/conversations/"
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def run(api, *operations) -> list[dict]:
    response = api.post(BATCH, {"operations": list(operations)}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert len(results) == len(operations)
    return results


def statuses(results) -> list[int]:
    return [result["status"] for result in results]


def make(user, title="A chat", **kwargs) -> Conversation:
    return services.create_conversation(user=user, title=title, **kwargs)


def say(user, conversation, content="hello"):
    return services.add_message(
        user=user, conversation_id=conversation.id, role="user", content=content
    ).message


# --- each operation --------------------------------------------------------------------


def test_create_conversation_answers_as_the_create_endpoint(api):
    client_id = str(uuid.uuid4())
    body = {"title": "Offline", "tags": ["trip"], "is_pinned": True, "client_id": client_id}

    (created,) = run(api, {"op": "create_conversation", **body})

    assert created["status"] == 201
    assert created["body"]["title"] == "Offline"
    assert created["body"]["tags"] == ["trip"]
    assert created["body"]["client_id"] == client_id
    # The single endpoint, sent the same create again, answers the same conversation.
    again = api.post(LIST, body, format="json")
    assert again.status_code == 200
    assert again.json() == created["body"]


def test_create_conversation_error_is_the_endpoints_field_map(api):
    body = {"title": "  ", "tags": "not-a-list"}
    (refused,) = run(api, {"op": "create_conversation", **body})
    single = api.post(LIST, body, format="json")
    assert refused == {"status": 400, "body": single.json()}
    assert set(refused["body"]) == {"tags"}
    assert not Conversation.objects.exists()


def test_add_message_answers_as_the_message_endpoint(api, user):
    conversation = make(user)
    client_id = str(uuid.uuid4())
    body = {"role": "user", "content": "Hi", "metadata": {"k": 1}, "client_id": client_id}

    (added,) = run(api, {"op": "add_message", "conversation_id": str(conversation.id), **body})

    assert added["status"] == 201
    assert added["body"]["content"] == "Hi"
    assert added["body"]["client_id"] == client_id
    assert added["body"]["conversation_id"] == str(conversation.id)
    single = api.post(f"{LIST}{conversation.id}/messages/", body, format="json")
    assert single.status_code == 200
    assert single.json() == added["body"]


def test_add_message_with_a_parent_makes_a_new_version(api, user):
    conversation = make(user)
    first = say(user, conversation, "first")
    say(user, conversation, "second")

    (edited,) = run(
        api,
        {
            "op": "add_message",
            "conversation_id": str(conversation.id),
            "role": "user",
            "content": "second, edited",
            "parent_id": str(first.id),
        },
    )

    assert edited["status"] == 201
    assert edited["body"]["parent_id"] == str(first.id)
    assert len(edited["body"]["sibling_ids"]) == 2
    conversation.refresh_from_db()
    assert str(conversation.current_message_id) == edited["body"]["id"]


def test_add_message_by_the_client_id_of_a_conversation_made_earlier_in_the_batch(api, user):
    conversation_client_id = str(uuid.uuid4())
    results = run(
        api,
        {"op": "create_conversation", "title": "Offline", "client_id": conversation_client_id},
        {
            "op": "add_message",
            "conversation_client_id": conversation_client_id,
            "role": "user",
            "content": "written on the train",
        },
    )
    assert statuses(results) == [201, 201]
    assert results[1]["body"]["conversation_id"] == results[0]["body"]["id"]
    assert Message.objects.get().conversation.client_id == uuid.UUID(conversation_client_id)


@pytest.mark.parametrize(
    ("target", "field"),
    [
        ({}, "conversation_id"),
        (
            {"conversation_id": str(uuid.uuid4()), "conversation_client_id": str(uuid.uuid4())},
            "conversation_id",
        ),
        ({"conversation_id": "not-a-uuid"}, "conversation_id"),
        ({"conversation_client_id": "seven"}, "conversation_client_id"),
    ],
)
def test_add_message_without_one_clear_conversation_is_that_rows_400(api, target, field):
    (refused,) = run(api, {"op": "add_message", **target, "role": "user", "content": "x"})
    assert refused["status"] == 400
    assert set(refused["body"]) == {field}
    assert not Message.objects.exists()


def test_add_message_errors_are_the_endpoints(api, user):
    conversation = make(user)
    target = {"op": "add_message", "conversation_id": str(conversation.id)}
    bad_body = {"role": "robot", "content": "   "}
    bad_parent = {"role": "user", "content": "x", "parent_id": str(uuid.uuid4())}

    results = run(
        api,
        {**target, **bad_body},
        {**target, **bad_parent},
        {"op": "add_message", "conversation_client_id": str(uuid.uuid4()), **bad_parent},
    )

    url = f"{LIST}{conversation.id}/messages/"
    assert results[0] == {"status": 400, "body": api.post(url, bad_body, format="json").json()}
    assert set(results[0]["body"]) == {"role"}
    assert results[1] == {"status": 400, "body": api.post(url, bad_parent, format="json").json()}
    assert set(results[1]["body"]) == {"parent_id"}
    assert results[2] == {"status": 404, "body": NOT_FOUND}
    assert not Message.objects.exists()


def test_update_conversation_answers_as_the_patch_endpoint(api, user):
    conversation = make(user, tags=["old"])
    patch = {"title": "Renamed", "is_pinned": True, "tags": ["new"]}

    (updated,) = run(
        api, {"op": "update_conversation", "conversation_id": str(conversation.id), **patch}
    )

    assert updated["status"] == 200
    assert updated["body"]["title"] == "Renamed"
    assert updated["body"]["tags"] == ["new"]
    single = api.patch(f"{LIST}{conversation.id}/", patch, format="json").json()
    assert {k: v for k, v in single.items() if k != "updated_at"} == {
        k: v for k, v in updated["body"].items() if k != "updated_at"
    }


def test_update_conversation_errors(api, user):
    conversation = make(user, title="Kept")
    target = {"op": "update_conversation", "conversation_id": str(conversation.id)}
    results = run(
        api,
        {**target, "title": ""},
        {"op": "update_conversation", "title": "x"},
        {**target, "current_message_id": str(uuid.uuid4())},
    )
    assert statuses(results) == [400, 400, 400]
    assert set(results[0]["body"]) == {"title"}
    assert results[1]["body"] == {"conversation_id": ["This field is required."]}
    assert set(results[2]["body"]) == {"current_message_id"}
    conversation.refresh_from_db()
    assert conversation.title == "Kept"


def test_delete_conversation_answers_204_and_again_204_when_replayed(api, user):
    conversation = make(user)
    delete = {"op": "delete_conversation", "conversation_id": str(conversation.id)}

    assert run(api, delete) == [{"status": 204, "body": None}]
    assert run(api, delete) == [{"status": 204, "body": None}]

    # In the trash, as DELETE leaves it; the replay did not delete it for good.
    trashed = Conversation.objects.get()
    assert trashed.id == conversation.id
    assert trashed.trashed_at is not None
    assert DeletedConversation.objects.filter(conversation_id=conversation.id).count() == 1


def test_delete_conversation_of_an_id_never_yours_is_404(api):
    results = run(
        api,
        {"op": "delete_conversation", "conversation_id": str(uuid.uuid4())},
        {"op": "delete_conversation"},
    )
    assert results[0] == {"status": 404, "body": NOT_FOUND}
    assert results[1] == {"status": 400, "body": {"conversation_id": ["This field is required."]}}
    assert not DeletedConversation.objects.exists()


# --- other users -----------------------------------------------------------------------


def test_another_users_ids_are_404_in_their_row(api, user, other_user):
    theirs = make(other_user, title="Theirs", client_id=uuid.uuid4())
    their_deleted = make(other_user, title="Deleted by them")
    services.delete_conversation(user=other_user, conversation_id=their_deleted.id)
    their_id = str(theirs.id)
    message = {"role": "user", "content": "x"}

    results = run(
        api,
        {"op": "add_message", "conversation_id": their_id, **message},
        {"op": "add_message", "conversation_client_id": str(theirs.client_id), **message},
        # 404 before the body is looked at, as on the single endpoint.
        {"op": "update_conversation", "conversation_id": their_id, "title": ""},
        {"op": "update_conversation", "conversation_id": their_id, "title": "Mine now"},
        {"op": "delete_conversation", "conversation_id": their_id},
        {"op": "delete_conversation", "conversation_id": str(their_deleted.id)},
        {"op": "create_conversation", "title": "Mine", "client_id": str(theirs.client_id)},
    )

    assert results[:6] == [{"status": 404, "body": NOT_FOUND}] * 6
    assert results[6]["status"] == 201
    assert results[6]["body"]["id"] != their_id
    theirs.refresh_from_db()
    assert (theirs.title, theirs.message_count) == ("Theirs", 0)
    assert DeletedConversation.objects.filter(owner=user).count() == 0


# --- order, isolation, replays ---------------------------------------------------------


def test_operations_run_in_order(api, user):
    conversation = make(user)
    target = {"op": "add_message", "conversation_id": str(conversation.id), "role": "user"}
    rename = {"op": "update_conversation", "conversation_id": str(conversation.id)}

    results = run(
        api,
        {**target, "content": "one"},
        {**rename, "title": "first"},
        {**target, "content": "two"},
        {**rename, "title": "second"},
    )

    assert statuses(results) == [201, 200, 201, 200]
    assert [results[0]["body"]["seq"], results[2]["body"]["seq"]] == [1, 2]
    assert results[2]["body"]["parent_id"] == results[0]["body"]["id"]
    assert [results[1]["body"]["title"], results[3]["body"]["title"]] == ["first", "second"]
    conversation.refresh_from_db()
    assert (conversation.title, conversation.preview) == ("second", "two")


def test_one_failing_operation_undoes_only_itself(api, user):
    conversation = make(user, tags=["kept"])
    target = {"op": "add_message", "conversation_id": str(conversation.id), "role": "user"}

    results = run(
        api,
        {**target, "content": "before"},
        # Its tags are set before its branch switch fails: its own transaction undoes them.
        {
            "op": "update_conversation",
            "conversation_id": str(conversation.id),
            "tags": ["lost"],
            "current_message_id": str(uuid.uuid4()),
        },
        {**target, "content": " "},
        {**target, "content": "after"},
    )

    assert statuses(results) == [201, 400, 400, 201]
    assert list(Message.objects.order_by("seq").values_list("content", flat=True)) == [
        "before",
        "after",
    ]
    conversation.refresh_from_db()
    assert conversation.tag_list == ["kept"]
    assert not Tag.objects.filter(name="lost").exists()


def test_a_whole_queue_replayed_three_times_leaves_one_copy_of_everything(api, user):
    existing = make(user, title="Existing")
    doomed = make(user, title="Doomed")
    say(user, doomed)
    offline = str(uuid.uuid4())
    queue = [
        {"op": "create_conversation", "title": "Offline", "tags": ["t"], "client_id": offline},
        {
            "op": "add_message",
            "conversation_client_id": offline,
            "role": "user",
            "content": "one",
            "client_id": str(uuid.uuid4()),
        },
        {
            "op": "add_message",
            "conversation_client_id": offline,
            "role": "assistant",
            "content": "two",
            "client_id": str(uuid.uuid4()),
        },
        {
            "op": "add_message",
            "conversation_id": str(existing.id),
            "role": "user",
            "content": "three",
            "client_id": str(uuid.uuid4()),
        },
        {
            "op": "update_conversation",
            "conversation_id": str(existing.id),
            "title": "Renamed",
            "is_pinned": True,
            "tags": ["x", "y"],
        },
        {"op": "delete_conversation", "conversation_id": str(doomed.id)},
    ]

    replays = [run(api, *queue) for _ in range(3)]

    assert statuses(replays[0]) == [201, 201, 201, 201, 200, 204]
    assert statuses(replays[1]) == statuses(replays[2]) == [200, 200, 200, 200, 200, 204]
    for position in range(4):
        assert replays[1][position]["body"]["id"] == replays[0][position]["body"]["id"]
        assert replays[2][position]["body"]["id"] == replays[0][position]["body"]["id"]
    # The deleted one is in the trash (not deleted for good by the replays).
    assert Conversation.objects.untrashed().count() == 2
    assert Conversation.objects.filter(trashed_at__isnull=False).count() == 1
    assert Message.objects.filter(conversation__trashed_at__isnull=True).count() == 3
    assert DeletedConversation.objects.count() == 1
    assert Tag.objects.count() == 3
    made = Conversation.objects.get(client_id=offline)
    assert (made.title, made.message_count, made.tag_list) == ("Offline", 2, ["t"])
    existing.refresh_from_db()
    assert (existing.title, existing.is_pinned, existing.message_count) == ("Renamed", True, 1)
    assert existing.tag_list == ["x", "y"]


def test_a_replayed_queue_does_not_bring_back_a_conversation_deleted_since(api, user):
    offline = str(uuid.uuid4())
    queue = [
        {"op": "create_conversation", "title": "Short-lived", "client_id": offline},
        {"op": "add_message", "conversation_client_id": offline, "role": "user", "content": "x"},
    ]
    created, _ = run(api, *queue)
    delete = {"op": "delete_conversation", "conversation_id": created["body"]["id"]}
    assert statuses(run(api, delete)) == [204]

    assert run(api, *queue, delete) == [
        {"status": 404, "body": NOT_FOUND},
        {"status": 404, "body": NOT_FOUND},
        {"status": 204, "body": None},
    ]
    # Still the one conversation, in the trash, with its one message: nothing new.
    assert Conversation.objects.get().trashed_at is not None
    assert Message.objects.count() == 1


# --- the envelope ----------------------------------------------------------------------

VALID = {"op": "create_conversation", "title": "Would be made"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([VALID], "non_field_errors"),
        ("operations", "non_field_errors"),
        ({}, "operations"),
        ({"operations": None}, "operations"),
        ({"operations": "create_conversation"}, "operations"),
        ({"operations": {"0": VALID}}, "operations"),
        ({"operations": [VALID, 1]}, "operations"),
        ({"operations": [VALID, ["op", "create_conversation"]]}, "operations"),
        ({"operations": [VALID, {"title": "no op"}]}, "operations"),
        ({"operations": [VALID, {"op": "drop_database"}]}, "operations"),
        ({"operations": [VALID, {"op": ["create_conversation"]}]}, "operations"),
        ({"operations": [VALID, {"op": None}]}, "operations"),
    ],
)
def test_a_wrong_envelope_is_a_400_and_applies_nothing(api, body, field):
    response = api.post(BATCH, body, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert not Conversation.objects.exists()


def test_an_unknown_op_names_its_position(api):
    response = api.post(BATCH, {"operations": [VALID, {"op": "drop_database"}]}, format="json")
    assert response.json() == {
        "operations": {
            "1": {
                "op": [
                    "Must be one of: create_conversation, add_message, update_conversation, "
                    "delete_conversation."
                ]
            }
        }
    }


def test_a_body_that_is_not_json_is_a_400_with_a_detail(api):
    response = api.generic("POST", BATCH, '{"operations": [', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_an_empty_batch_answers_no_results(api):
    assert run(api) == []


def test_at_most_100_operations(api, user):
    conversation = make(user)
    target = {"op": "add_message", "conversation_id": str(conversation.id), "role": "user"}
    operations = [{**target, "content": f"m{n}"} for n in range(101)]

    refused = api.post(BATCH, {"operations": operations}, format="json")

    assert refused.status_code == 400
    assert refused.json() == {"operations": ["Ensure this field has no more than 100 operations."]}
    assert not Message.objects.exists()
    assert statuses(run(api, *operations[:100])) == [201] * 100
    assert Message.objects.count() == 100


def test_the_bound_is_a_setting(api, settings):
    settings.NUMINA_BATCH_MAX_OPERATIONS = 2
    response = api.post(BATCH, {"operations": [VALID] * 3}, format="json")
    assert response.status_code == 400
    assert statuses(run(api, VALID, VALID)) == [201, 201]


def test_100_operations_of_the_largest_message_fit_in_the_request_limit(api, user, settings):
    conversation = make(user)
    content = "x" * settings.NUMINA_CONTENT_MAX_LENGTH
    operations = [
        {
            "op": "add_message",
            "conversation_id": str(conversation.id),
            "role": "user",
            "content": content,
            "metadata": {"pad": "m" * 16_000},
        }
        for _ in range(100)
    ]
    assert len(json.dumps({"operations": operations})) < settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    assert statuses(run(api, *operations)) == [201] * 100


def test_a_batch_over_the_request_size_limit_is_a_400(api, user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"operations": [{**VALID, "title": "x" * 100}] * 10})
    response = api.generic("POST", BATCH, body, content_type="application/json")
    assert response.status_code == 400
    assert not Conversation.objects.exists()


def test_a_batch_needs_credentials(anon_api):
    assert anon_api.post(BATCH, {"operations": [VALID]}, format="json").status_code == 401
    assert not Conversation.objects.exists()


# --- cost ------------------------------------------------------------------------------


def _operations(user, kind: str, count: int) -> list[dict]:
    if kind == "create_conversation":
        return [{**VALID, "tags": ["a", "b"], "client_id": str(uuid.uuid4())} for _ in range(count)]
    if kind == "add_message":
        conversation = make(user)
        say(user, conversation)
        return [
            {
                "op": "add_message",
                "conversation_id": str(conversation.id),
                "role": "user",
                "content": f"m{n}",
                "client_id": str(uuid.uuid4()),
            }
            for n in range(count)
        ]
    conversations = [make(user, tags=["t"]) for _ in range(count)]
    for conversation in conversations:
        say(user, conversation)
    if kind == "update_conversation":
        return [
            {"op": kind, "conversation_id": str(c.id), "title": "New", "tags": ["u"]}
            for c in conversations
        ]
    return [{"op": kind, "conversation_id": str(c.id)} for c in conversations]


def _queries(api, operations) -> int:
    with CaptureQueriesContext(connection) as captured:
        run(api, *operations)
    return len(captured)


@pytest.mark.parametrize(
    "kind", ["create_conversation", "add_message", "update_conversation", "delete_conversation"]
)
def test_a_batch_costs_the_same_queries_for_each_operation(
    api, user, kind, django_assert_max_num_queries
):
    run(api)  # whatever the first request of a client costs once
    one = _queries(api, _operations(user, kind, 1))
    two = _queries(api, _operations(user, kind, 2))
    per_operation = two - one
    assert 0 < per_operation <= 16
    ten = _operations(user, kind, 10)
    with django_assert_max_num_queries(one + 9 * per_operation):
        results = run(api, *ten)
    assert all(result["status"] in (200, 201, 204) for result in results)


# --- the rate --------------------------------------------------------------------------


def test_a_batch_counts_each_operation_against_the_user_rate(api, throttle_rates):
    throttle_rates(user="10/min")
    assert statuses(run(api, *[VALID] * 6)) == [201] * 6

    over = api.post(BATCH, {"operations": [VALID] * 5}, format="json")

    assert over.status_code == 429
    assert int(over["Retry-After"]) > 0
    assert Conversation.objects.count() == 6
    assert statuses(run(api, *[VALID] * 3)) == [201] * 3
    assert api.get("/api/v1/me/").status_code == 200  # the 10th, in the same bucket
    assert api.get("/api/v1/me/").status_code == 429


def test_a_batch_larger_than_the_whole_rate_uses_all_of_it(api, throttle_rates):
    throttle_rates(user="5/min")
    assert statuses(run(api, *[VALID] * 8)) == [201] * 8
    assert api.get("/api/v1/me/").status_code == 429


def test_a_malformed_batch_still_counts_once(api, throttle_rates):
    throttle_rates(user="2/min")
    for _ in range(2):
        response = api.generic("POST", BATCH, "{", content_type="application/json")
        assert response.status_code == 400
    assert api.get("/api/v1/me/").status_code == 429
