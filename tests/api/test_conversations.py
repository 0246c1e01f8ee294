import uuid

import pytest

from conversations import services
from conversations.models import Conversation, DeletedConversation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"


def detail(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/"


def make(user, title=None, **kwargs) -> Conversation:
    return services.create_conversation(user=user, title=title, **kwargs)


def say(user, conversation, content="hello", role="user"):
    return services.add_message(
        user=user, conversation_id=conversation.id, role=role, content=content
    ).message


# --- list ------------------------------------------------------------------------------


def test_list_shows_the_api_md_shape_newest_activity_first(api, user):
    older = make(user, "older", tags=["t"])
    newer = make(user, "newer")
    say(user, older, "x" * 250)
    body = api.get(LIST).json()
    assert set(body) == {"next", "previous", "results"}
    first = body["results"][0]
    assert [c["id"] for c in body["results"]] == [str(older.id), str(newer.id)]
    assert set(first) == {
        "id",
        "title",
        "summary",
        "is_archived",
        "is_pinned",
        "tags",
        "message_count",
        "preview",
        "last_activity_at",
        "created_at",
        "updated_at",
        "current_message_id",
        "instructions",
        "client_id",
    }
    assert first["tags"] == ["t"]
    assert first["preview"] == "x" * 200
    assert first["message_count"] == 1
    assert first["last_activity_at"].endswith("Z")


@pytest.mark.parametrize(
    ("archived", "expected"),
    [
        (None, {"active"}),
        ("false", {"active"}),
        ("true", {"archived"}),
        ("all", {"active", "archived"}),
    ],
)
def test_list_archived_filter(api, user, archived, expected):
    make(user, "active")
    services.archive_conversation(user=user, conversation_id=make(user, "archived").id)
    params = {} if archived is None else {"archived": archived}
    assert {c["title"] for c in api.get(LIST, params).json()["results"]} == expected


def test_list_pinned_tag_and_text_filters(api, user):
    make(user, "pinned", is_pinned=True)
    make(user, "tagged", tags=["work"])
    said = make(user, "said")
    say(user, said, "we talked about volcanoes")
    assert [c["title"] for c in api.get(LIST, {"pinned": "true"}).json()["results"]] == ["pinned"]
    assert {c["title"] for c in api.get(LIST, {"pinned": "false"}).json()["results"]} == {
        "tagged",
        "said",
    }
    assert [c["title"] for c in api.get(LIST, {"tag": "work"}).json()["results"]] == ["tagged"]
    assert [c["title"] for c in api.get(LIST, {"q": "volcano"}).json()["results"]] == ["said"]


@pytest.mark.parametrize("params", [{"archived": "maybe"}, {"pinned": "perhaps"}, {"q": "x" * 501}])
def test_list_refuses_bad_filters(api, params):
    response = api.get(LIST, params)
    assert response.status_code == 400
    assert set(response.json()) == set(params)


def test_list_page_size_default_and_maximum(api, user):
    for n in range(105):
        make(user, f"c{n}")
    assert len(api.get(LIST).json()["results"]) == 20
    assert len(api.get(LIST, {"page_size": 5}).json()["results"]) == 5
    assert len(api.get(LIST, {"page_size": 1000}).json()["results"]) == 100


def test_list_invalid_cursor_is_a_400(api):
    response = api.get(LIST, {"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json() == {"cursor": ["Invalid cursor."]}


def test_pagination_neither_repeats_nor_skips_while_new_conversations_arrive(api, user):
    existing = {str(make(user, f"c{n}").id) for n in range(25)}
    seen: list[str] = []
    url = LIST + "?page_size=7"
    while url:
        body = api.get(url).json()
        seen += [c["id"] for c in body["results"]]
        make(user, "arrived while paging")  # newest activity: goes to the top, not into the pages
        url = body["next"]
    assert len(seen) == len(set(seen))
    assert set(seen) == existing


def test_list_query_count_is_the_same_for_1_and_20_conversations_with_tags(
    api, user, django_assert_num_queries
):
    make(user, "one", tags=["a", "b"])
    # A cold read: token with its user, change position (the cache version), the page with
    # its tags.
    with django_assert_num_queries(3):
        assert len(api.get(LIST).json()["results"]) == 1
    for n in range(19):
        conversation = make(user, f"c{n}", tags=["a", "b", f"t{n}"])
        say(user, conversation)
    with django_assert_num_queries(3):
        assert len(api.get(LIST).json()["results"]) == 20


# --- create ----------------------------------------------------------------------------


def test_create_with_nothing(api, user):
    response = api.post(LIST, {}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["title"] == ""
    assert body["tags"] == []
    assert body["message_count"] == 0
    assert Conversation.objects.get(id=body["id"]).owner == user


def test_create_with_title_tags_and_pin(api):
    response = api.post(
        LIST, {"title": " Plans ", "tags": ["a", "b"], "is_pinned": True}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["title"], response.json()["tags"], response.json()["is_pinned"]) == (
        "Plans",
        ["a", "b"],
        True,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": None}, "title"),
        ({"tags": [f"t{n}" for n in range(21)]}, "tags"),
        ({"tags": ["x" * 51]}, "tags"),
        ({"tags": [""]}, "tags"),
        ({"tags": "work"}, "tags"),
        ({"is_pinned": "sometimes"}, "is_pinned"),
    ],
)
def test_create_refuses_each_bound(api, body, field):
    response = api.post(LIST, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Conversation.objects.exists()


def test_create_ignores_fields_a_client_must_not_set(api, user):
    other = UserFactory()
    forced_id = str(uuid.uuid4())
    response = api.post(
        LIST,
        {
            "id": forced_id,
            "user": str(other.id),
            "owner": str(other.id),
            "message_count": 99,
            "created_at": "2001-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != forced_id
    assert body["message_count"] == 0
    assert not body["created_at"].startswith("2001")
    assert Conversation.objects.get().owner == user


def test_malformed_json_is_a_clear_400(api):
    response = api.generic("POST", LIST, '{"title": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "JSON" in response.json()["detail"]


def test_a_json_array_body_is_a_400(api):
    assert api.post(LIST, [1, 2], format="json").status_code == 400


def test_wrong_media_type_is_415(api):
    assert (
        api.generic(
            "POST", LIST, "title=x", content_type="application/x-www-form-urlencoded"
        ).status_code
        == 415
    )


def test_wrong_method_is_405(api, user):
    assert api.put(LIST, {}, format="json").status_code == 405
    assert api.post(detail(make(user).id), {}, format="json").status_code == 405


# --- retrieve --------------------------------------------------------------------------


def test_retrieve_has_the_newest_messages_oldest_first(api, user):
    conversation = make(user, "chat")
    for n in range(60):
        say(user, conversation, f"m{n}")
    body = api.get(detail(conversation.id)).json()
    assert [m["seq"] for m in body["messages"]] == list(range(11, 61))
    assert set(body["messages"][0]) == {
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
    assert [
        m["seq"] for m in api.get(detail(conversation.id), {"messages": 3}).json()["messages"]
    ] == [58, 59, 60]
    assert api.get(detail(conversation.id), {"messages": 0}).json()["messages"] == []
    assert len(api.get(detail(conversation.id), {"messages": 500}).json()["messages"]) == 60


@pytest.mark.parametrize("messages", ["-1", "501", "abc", "1.5"])
def test_retrieve_refuses_a_message_window_out_of_bounds(api, user, messages):
    response = api.get(detail(make(user).id), {"messages": messages})
    assert response.status_code == 400
    assert "messages" in response.json()


def test_retrieve_query_count_does_not_grow_with_messages(api, user, django_assert_num_queries):
    conversation = make(user, "chat", tags=["a"])
    say(user, conversation)
    # token with its user, conversation with tags, the branch's messages with their
    # siblings (one query)
    with django_assert_num_queries(3):
        api.get(detail(conversation.id))
    for n in range(80):
        say(user, conversation, f"m{n}")
    with django_assert_num_queries(3):
        api.get(detail(conversation.id))


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", str(uuid.uuid4()), "1", "00000000-0000-0000-0000-00000000000g"]
)
def test_unknown_or_malformed_id_is_404(api, bad_id):
    response = api.get(detail(bad_id))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


# --- patch -----------------------------------------------------------------------------


def test_patch_each_field(api, user):
    conversation = make(user)
    url = detail(conversation.id)
    assert api.patch(url, {"title": " Mine "}, format="json").json()["title"] == "Mine"
    assert api.patch(url, {"is_archived": True}, format="json").json()["is_archived"] is True
    assert api.patch(url, {"is_pinned": True}, format="json").json()["is_pinned"] is True
    assert api.patch(url, {"tags": ["x", "y"]}, format="json").json()["tags"] == ["x", "y"]
    assert api.patch(url, {"tags": []}, format="json").json()["tags"] == []
    conversation.refresh_from_db()
    assert conversation.title_set_by_user is True


def test_patch_with_an_empty_body_changes_nothing(api, user):
    conversation = make(user, "same")
    response = api.patch(detail(conversation.id), {}, format="json")
    assert response.status_code == 200
    assert response.json()["title"] == "same"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"tags": ["t"] * 0 + [f"t{n}" for n in range(21)]}, "tags"),
        ({"is_archived": "nah"}, "is_archived"),
        ({"tags": ["x" * 51]}, "tags"),
    ],
)
def test_patch_refuses_each_bound_and_changes_nothing(api, user, body, field):
    conversation = make(user, "kept", tags=["kept"])
    response = api.patch(detail(conversation.id), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    conversation.refresh_from_db()
    assert conversation.title == "kept"
    assert not conversation.is_archived
    assert list(conversation.tags.values_list("name", flat=True)) == ["kept"]


def test_patch_ignores_fields_a_client_must_not_set(api, user):
    conversation = make(user, "t")
    say(user, conversation)
    api.patch(
        detail(conversation.id),
        {
            "message_count": 50,
            "id": str(uuid.uuid4()),
            "user": str(UserFactory().id),
            "created_at": "2001-01-01T00:00:00Z",
        },
        format="json",
    )
    fresh = Conversation.objects.get(id=conversation.id)
    assert (fresh.message_count, fresh.owner, fresh.created_at) == (
        1,
        user,
        conversation.created_at,
    )


# --- delete ----------------------------------------------------------------------------


def test_delete_trashes_the_conversation_and_records_it(api, user):
    conversation = make(user)
    say(user, conversation)
    assert api.delete(detail(conversation.id)).status_code == 204
    assert api.get(detail(conversation.id)).status_code == 404
    assert DeletedConversation.objects.filter(conversation_id=conversation.id, owner=user).exists()
    assert str(conversation.id) in api.get("/api/v1/sync/").json()["deleted"]
    # A second DELETE (it is in the trash) deletes it for good; a third finds nothing.
    assert api.delete(detail(conversation.id)).status_code == 204
    assert not Conversation.objects.filter(id=conversation.id).exists()
    assert api.delete(detail(conversation.id)).status_code == 404


# --- session auth ----------------------------------------------------------------------


def test_session_auth_with_csrf_works_like_a_token(session_api, user):
    response = session_api.post(LIST, {"title": "from the browser"}, format="json")
    assert response.status_code == 201
    assert session_api.get(LIST).json()["results"][0]["title"] == "from the browser"
