"""Branches through the conversation API (API.md "Branches"): parent_id and sibling_ids on
every message, current_message_id on every conversation, retrieve reading the current
branch, PATCH current_message_id switching it, parent_id on a new message, and the
message list's thread=all|current. Chat and regenerate are in
tests/conversations/test_branch_chat_api.py (they need the model's fixtures)."""

import uuid

import pytest

from conversations import services
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"


def detail(conversation_id) -> str:
    return f"{LIST}{conversation_id}/"


def messages_url(conversation_id) -> str:
    return f"{detail(conversation_id)}messages/"


def add(user, conversation, content, *, role="user", **kwargs) -> Message:
    return services.add_message(
        user=user, conversation_id=conversation.id, role=role, content=content, **kwargs
    ).message


def straight(user, conversation, count, *, prefix="m") -> list[Message]:
    return services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[
            services.NewMessage(role="user" if n % 2 == 0 else "assistant", content=f"{prefix}{n}")
            for n in range(count)
        ],
    )


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user, title="tree")


@pytest.fixture
def tree(user, conversation):
    """u1 → a1 → u2 → a2, then an edit of u2 (u2b → a2b) made current: two branches."""
    u1 = add(user, conversation, "u1")
    a1 = add(user, conversation, "a1", role="assistant")
    u2 = add(user, conversation, "u2")
    a2 = add(user, conversation, "a2", role="assistant")
    u2b = add(user, conversation, "u2b", parent_id=a1.id)
    a2b = add(user, conversation, "a2b", role="assistant")
    return {"u1": u1, "a1": a1, "u2": u2, "a2": a2, "u2b": u2b, "a2b": a2b}


def contents(messages) -> list[str]:
    return [m["content"] for m in messages]


def snapshot(conversation_id) -> tuple:
    return (
        Conversation.objects.filter(id=conversation_id).values().first(),
        list(Message.objects.filter(conversation_id=conversation_id).order_by("seq").values()),
    )


# --- the shapes --------------------------------------------------------------------------


def test_retrieve_messages_carry_parent_id_and_sibling_ids(api, conversation, tree):
    body = api.get(detail(conversation.id)).json()

    by_content = {m["content"]: m for m in body["messages"]}
    assert contents(body["messages"]) == ["u1", "a1", "u2b", "a2b"]
    assert by_content["u1"]["parent_id"] is None
    assert by_content["u1"]["sibling_ids"] == [str(tree["u1"].id)]
    assert by_content["u2b"]["parent_id"] == str(tree["a1"].id)
    # The versions at that point, in seq order, itself included.
    assert by_content["u2b"]["sibling_ids"] == [str(tree["u2"].id), str(tree["u2b"].id)]
    assert by_content["a2b"]["sibling_ids"] == [str(tree["a2b"].id)]
    assert body["current_message_id"] == str(tree["a2b"].id)


def test_every_conversation_answer_has_current_message_id(api, user, conversation, tree):
    current = str(tree["a2b"].id)
    listed = api.get(LIST).json()["results"]
    synced = api.get("/api/v1/sync/").json()["conversations"]
    patched = api.patch(detail(conversation.id), {"title": "renamed"}, format="json").json()
    created = api.post(LIST, {"title": "new"}, format="json").json()

    assert [c["current_message_id"] for c in listed if c["id"] == str(conversation.id)] == [current]
    assert [c["current_message_id"] for c in synced if c["id"] == str(conversation.id)] == [current]
    assert patched["current_message_id"] == current
    assert created["current_message_id"] is None


def test_message_list_and_post_carry_parent_id_and_sibling_ids(api, conversation, tree):
    listed = api.get(messages_url(conversation.id)).json()["results"]
    posted = api.post(
        messages_url(conversation.id),
        {"role": "user", "content": "u2c", "parent_id": str(tree["a1"].id)},
        format="json",
    ).json()

    assert [(m["content"], m["parent_id"]) for m in listed] == [
        ("u1", None),
        ("a1", str(tree["u1"].id)),
        ("u2", str(tree["a1"].id)),
        ("a2", str(tree["u2"].id)),
        ("u2b", str(tree["a1"].id)),
        ("a2b", str(tree["u2b"].id)),
    ]
    assert listed[2]["sibling_ids"] == [str(tree["u2"].id), str(tree["u2b"].id)]
    assert posted["parent_id"] == str(tree["a1"].id)
    assert posted["sibling_ids"] == [str(tree["u2"].id), str(tree["u2b"].id), posted["id"]]


# --- retrieve: the current branch --------------------------------------------------------


def test_retrieve_gives_the_newest_n_of_the_current_branch_oldest_first(api, user, conversation):
    first = straight(user, conversation, 30)
    # A second branch from m9 on, longer than the window, made current.
    add(user, conversation, "b", parent_id=first[9].id)
    straight(user, conversation, 59, prefix="x")
    body = api.get(detail(conversation.id)).json()
    three = api.get(detail(conversation.id), {"messages": 3}).json()["messages"]
    everything = api.get(detail(conversation.id), {"messages": 500}).json()["messages"]

    shown = [f"m{n}" for n in range(10)] + ["b"] + [f"x{n}" for n in range(59)]
    assert contents(everything) == shown
    assert contents(body["messages"]) == shown[-50:]
    assert body["messages"][-1]["id"] == body["current_message_id"]
    assert contents(three) == ["x56", "x57", "x58"]
    assert [m["seq"] for m in everything] == sorted(m["seq"] for m in everything)


def test_retrieve_after_a_switch_shows_the_other_branch_though_it_was_cached(
    api, user, conversation, tree
):
    first = api.get(detail(conversation.id))
    cached = api.get(detail(conversation.id))

    services.switch_branch(user=user, conversation_id=conversation.id, message_id=tree["u2"].id)
    after = api.get(detail(conversation.id))

    assert (first["X-Cache"], cached["X-Cache"]) == ("miss", "hit")
    assert contents(cached.json()["messages"]) == ["u1", "a1", "u2b", "a2b"]
    assert after["X-Cache"] == "miss"
    assert contents(after.json()["messages"]) == ["u1", "a1", "u2", "a2"]
    assert after.json()["current_message_id"] == str(tree["a2"].id)


def test_a_new_version_makes_the_cached_sibling_ids_stale(api, user, conversation, tree):
    api.get(detail(conversation.id))

    newer = add(user, conversation, "u1b", parent_id=services.NO_PARENT)
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=tree["a2b"].id)
    body = api.get(detail(conversation.id)).json()

    assert body["messages"][0]["sibling_ids"] == [str(tree["u1"].id), str(newer.id)]


def test_an_empty_conversation_has_no_current_message(api, conversation):
    body = api.get(detail(conversation.id)).json()

    assert (body["current_message_id"], body["messages"]) == (None, [])


# --- edit, then switch back ---------------------------------------------------------------


def test_edit_then_switch_back_gives_exactly_the_old_thread(api, user, conversation):
    messages = straight(user, conversation, 8)
    before = api.get(detail(conversation.id)).json()["messages"]
    context_before = api.get(f"{detail(conversation.id)}context/").json()

    edited = api.post(
        messages_url(conversation.id),
        {"role": "user", "content": "m4, said better", "parent_id": str(messages[3].id)},
        format="json",
    ).json()
    while_edited = api.get(detail(conversation.id)).json()["messages"]
    switched = api.patch(
        detail(conversation.id), {"current_message_id": str(messages[4].id)}, format="json"
    )
    after = api.get(detail(conversation.id)).json()["messages"]
    context_after = api.get(f"{detail(conversation.id)}context/").json()

    assert {**context_after, "cached": None, "total_messages": None} == {
        **context_before,
        "cached": None,
        "total_messages": None,
    }
    assert contents(while_edited) == ["m0", "m1", "m2", "m3", "m4, said better"]
    assert switched.status_code == 200
    # The newest child down from the old m4 is the old leaf.
    assert switched.json()["current_message_id"] == str(messages[-1].id)
    # Exactly the old thread, but for the versions the edit added at its point.
    assert [{**m, "sibling_ids": None} for m in after] == [
        {**m, "sibling_ids": None} for m in before
    ]
    assert after[4]["sibling_ids"] == [str(messages[4].id), edited["id"]]
    assert [m["sibling_ids"] for m in after[:4] + after[5:]] == [
        m["sibling_ids"] for m in before[:4] + before[5:]
    ]


def test_editing_the_first_message_is_a_parent_id_of_null(api, user, conversation):
    messages = straight(user, conversation, 4)

    response = api.post(
        messages_url(conversation.id),
        {"role": "user", "content": "m0 again", "parent_id": None},
        format="json",
    )
    body = api.get(detail(conversation.id)).json()

    assert response.status_code == 201
    assert response.json()["parent_id"] is None
    assert response.json()["sibling_ids"] == [str(messages[0].id), response.json()["id"]]
    assert contents(body["messages"]) == ["m0 again"]
    assert Message.objects.get(id=response.json()["id"]).depth == 1


def test_without_parent_id_a_message_goes_after_the_current_one(api, user, conversation, tree):
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=tree["u2"].id)

    posted = api.post(
        messages_url(conversation.id), {"role": "user", "content": "next"}, format="json"
    ).json()

    assert posted["parent_id"] == str(tree["a2"].id)
    assert api.get(detail(conversation.id)).json()["current_message_id"] == posted["id"]


# --- PATCH current_message_id -------------------------------------------------------------


def test_patch_current_message_id_follows_the_newest_child_to_a_leaf(api, user, conversation, tree):
    newer_a2 = add(user, conversation, "a2 again", role="assistant", parent_id=tree["u2"].id)
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=tree["u2b"].id)

    response = api.patch(
        detail(conversation.id), {"current_message_id": str(tree["u2"].id)}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["current_message_id"] == str(newer_a2.id)
    assert response.json()["preview"] == "a2 again"
    assert contents(api.get(detail(conversation.id)).json()["messages"]) == [
        "u1",
        "a1",
        "u2",
        "a2 again",
    ]


def test_patch_to_the_branch_already_shown_changes_nothing(api, conversation, tree):
    before = snapshot(conversation.id)

    response = api.patch(
        detail(conversation.id), {"current_message_id": str(tree["u2b"].id)}, format="json"
    )

    assert response.status_code == 200
    assert snapshot(conversation.id) == before


def test_patch_current_message_id_with_other_fields_at_once(api, conversation, tree):
    response = api.patch(
        detail(conversation.id),
        {"current_message_id": str(tree["a2"].id), "title": "both", "is_pinned": True},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["current_message_id"], body["title"], body["is_pinned"]) == (
        str(tree["a2"].id),
        "both",
        True,
    )


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", None, 7, ["x"], {"id": "x"}])
def test_patch_a_malformed_current_message_id_is_400_and_changes_nothing(
    api, conversation, tree, bad
):
    before = snapshot(conversation.id)

    response = api.patch(
        detail(conversation.id), {"current_message_id": bad, "title": "no"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["current_message_id"]
    assert snapshot(conversation.id) == before


def test_patch_a_message_of_another_conversation_is_400_and_changes_nothing(
    api, user, conversation, tree
):
    elsewhere = services.create_conversation(user=user)
    stranger = add(user, elsewhere, "not here")
    before, before_elsewhere = snapshot(conversation.id), snapshot(elsewhere.id)

    response = api.patch(
        detail(conversation.id),
        {"current_message_id": str(stranger.id), "title": "no"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"current_message_id": ["Not a message of this conversation."]}
    assert snapshot(conversation.id) == before
    assert snapshot(elsewhere.id) == before_elsewhere


def test_patch_an_unknown_message_is_400(api, conversation, tree):
    response = api.patch(
        detail(conversation.id), {"current_message_id": str(uuid.uuid4())}, format="json"
    )

    assert response.status_code == 400
    assert "current_message_id" in response.json()


# --- POST …/messages/ with parent_id ------------------------------------------------------


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", 7, ["x"], {"id": "x"}, True])
def test_post_a_malformed_parent_id_is_400_and_stores_nothing(api, conversation, tree, bad):
    before = snapshot(conversation.id)

    response = api.post(
        messages_url(conversation.id),
        {"role": "user", "content": "hi", "parent_id": bad},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["parent_id"]
    assert snapshot(conversation.id) == before


def test_post_a_parent_of_another_conversation_is_400_and_stores_nothing(
    api, user, conversation, tree
):
    elsewhere = services.create_conversation(user=user)
    stranger = add(user, elsewhere, "not here")
    before, before_elsewhere = snapshot(conversation.id), snapshot(elsewhere.id)

    for parent_id in (stranger.id, uuid.uuid4()):
        response = api.post(
            messages_url(conversation.id),
            {"role": "user", "content": "hi", "parent_id": str(parent_id)},
            format="json",
        )
        assert response.status_code == 400
        assert response.json() == {"parent_id": ["Not a message of this conversation."]}
    assert snapshot(conversation.id) == before
    assert snapshot(elsewhere.id) == before_elsewhere


def test_post_with_parent_id_and_a_client_id_already_stored_returns_it(api, conversation, tree):
    client_id = str(uuid.uuid4())
    body = {"role": "user", "content": "once", "parent_id": str(tree["a1"].id)}
    first = api.post(messages_url(conversation.id), {**body, "client_id": client_id}, format="json")
    again = api.post(messages_url(conversation.id), {**body, "client_id": client_id}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Message.objects.filter(client_id=client_id).count() == 1


# --- GET …/messages/?thread= --------------------------------------------------------------


def test_thread_all_is_the_default_every_branch_in_seq_order(api, conversation, tree):
    default = api.get(messages_url(conversation.id)).json()["results"]
    every = api.get(messages_url(conversation.id), {"thread": "all"}).json()["results"]

    assert default == every
    assert contents(every) == ["u1", "a1", "u2", "a2", "u2b", "a2b"]


def test_thread_current_is_only_the_branch_shown(api, user, conversation, tree):
    shown = api.get(messages_url(conversation.id), {"thread": "current"}).json()["results"]
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=tree["u2"].id)
    switched = api.get(messages_url(conversation.id), {"thread": "current"}).json()["results"]

    assert contents(shown) == ["u1", "a1", "u2b", "a2b"]
    assert contents(switched) == ["u1", "a1", "u2", "a2"]
    assert switched[2]["sibling_ids"] == [str(tree["u2"].id), str(tree["u2b"].id)]


def test_thread_current_pages_with_a_cursor_and_after_seq(api, user, conversation):
    first = straight(user, conversation, 30)
    add(user, conversation, "c", parent_id=first[4].id)
    straight(user, conversation, 24, prefix="b")
    expected = [f"m{n}" for n in range(5)] + ["c"] + [f"b{n}" for n in range(24)]

    def walk(**query) -> list[str]:
        url, params, seen = messages_url(conversation.id), {"thread": "current", **query}, []
        while url:
            page = api.get(url, params).json()
            seen += contents(page["results"])
            url, params = page["next"], {}
        return seen

    assert walk(page_size=7) == expected
    after = Message.objects.get(conversation=conversation, content="b3").seq
    assert walk(page_size=4, after_seq=after) == [f"b{n}" for n in range(4, 24)]
    # After a message of the other branch: the shown branch's messages stored later.
    assert walk(after_seq=first[20].seq) == ["c"] + [f"b{n}" for n in range(24)]


def test_thread_current_of_an_empty_conversation_is_an_empty_page(api, conversation):
    body = api.get(messages_url(conversation.id), {"thread": "current"}).json()

    assert body == {"next": None, "previous": None, "results": []}


@pytest.mark.parametrize("thread", ["both", "CURRENT", "current,all", "1", "all "])
def test_any_other_thread_is_400(api, conversation, thread):
    response = api.get(messages_url(conversation.id), {"thread": thread})

    assert response.status_code == 400
    assert list(response.json()) == ["thread"]


# --- the same queries however deep -------------------------------------------------------


def deep(user, depth: int) -> Conversation:
    """A conversation whose current branch is ``depth`` messages long, with side
    branches on the way (so siblings exist to be read)."""
    conversation = services.create_conversation(user=user, tags=["deep"])
    messages = straight(user, conversation, depth - 2)
    for message in messages[: depth - 3 : max(1, depth // 5)]:
        add(user, conversation, "version", parent_id=message.parent_id or services.NO_PARENT)
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=messages[-1].id)
    add(user, conversation, "second-last", role="assistant")
    add(user, conversation, "last")
    conversation.refresh_from_db()
    assert Message.objects.get(id=conversation.current_message_id).depth == depth
    return conversation


@pytest.mark.parametrize("depth", [10, 1000])
def test_retrieve_runs_the_same_queries_at_depth_10_and_1000(
    api, user, depth, django_assert_num_queries
):
    conversation = deep(user, depth)

    # token with its user, conversation with tags, the branch's newest 50 with their
    # siblings (one query: branches.answer_rows)
    with django_assert_num_queries(3):
        response = api.get(detail(conversation.id))
    with django_assert_num_queries(3):
        api.get(detail(conversation.id), {"messages": 500})

    assert response.status_code == 200
    assert len(response.json()["messages"]) == min(depth, 50)
    assert response.json()["messages"][-1]["content"] == "last"


@pytest.mark.parametrize("depth", [10, 1000])
@pytest.mark.parametrize("thread", ["all", "current"])
def test_message_list_page_runs_the_same_queries_at_depth_10_and_1000(
    api, user, depth, thread, django_assert_num_queries
):
    conversation = deep(user, depth)

    # token with its user, the conversation (ownership), the page with its siblings
    with django_assert_num_queries(3):
        first = api.get(messages_url(conversation.id), {"thread": thread}).json()
    with django_assert_num_queries(3):
        api.get(first["next"]) if first["next"] else api.get(messages_url(conversation.id))

    stored = depth if thread == "current" else conversation.message_count
    assert len(first["results"]) == min(20, stored)
