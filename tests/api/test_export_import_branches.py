"""Export keeps the tree, import restores it exactly, Markdown prints the current branch,
and search finds text on any branch."""

import json
import uuid

import pytest

from conversations import services
from conversations.models import Conversation, Message
from conversations.selectors import branches

pytestmark = pytest.mark.django_db

IMPORT = "/api/v1/conversations/import/"
SEARCH = "/api/v1/search/"


def export_url(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/export/"


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def export(api, conversation_id) -> dict:
    response = api.get(export_url(conversation_id))
    assert response.status_code == 200
    return json.loads(body_of(response))


def add(user, conversation, role, content, parent=None) -> Message:
    return services.add_message(
        user=user,
        conversation_id=conversation.id,
        role=role,
        content=content,
        parent_id=parent.id if parent is not None else None,
    ).message


@pytest.fixture
def tree(user):
    """u1 → a1 → u2 → a2, then u2 edited (u2e → a2e, regenerated as a2r), then the
    first branch shown again: seven messages, current a2 (not the newest)."""
    conversation = services.create_conversation(user=user, title="Tree")
    u1 = add(user, conversation, "user", "first question")
    a1 = add(user, conversation, "assistant", "first answer")
    u2 = add(user, conversation, "user", "second question")
    add(user, conversation, "assistant", "second answer")
    u2e = add(user, conversation, "user", "second question, edited", parent=a1)
    add(user, conversation, "assistant", "answer to the edit", parent=u2e)
    add(user, conversation, "assistant", "answer to the edit, regenerated", parent=u2e)
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=u2.id)
    conversation.refresh_from_db()
    assert u1.parent_id is None
    return conversation


def shape(document: dict) -> tuple[list, list, list]:
    """Per message (in order) its parent's position and (role, content), and the current
    branch's (role, content) from its first message down: what a round trip keeps."""
    messages = document["messages"]
    position = {m["id"]: n for n, m in enumerate(messages)}
    parents = [position[m["parent_id"]] if m["parent_id"] else None for m in messages]
    contents = [(m["role"], m["content"]) for m in messages]
    current_branch = []
    at = position.get(document["conversation"]["current_message_id"])
    while at is not None:
        current_branch.append(contents[at])
        at = parents[at]
    return parents, contents, current_branch[::-1]


def stored_branch(conversation_id) -> list[tuple[str, str]]:
    conversation = Conversation.objects.get(id=conversation_id)
    return list(
        branches.branch(
            conversation_id=conversation.id, leaf_id=conversation.current_message_id
        ).values_list("role", "content")
    )


def test_the_json_export_carries_every_message_with_its_parent_and_the_current_one(api, tree):
    document = export(api, tree.id)

    stored = {m.id: m for m in Message.objects.filter(conversation=tree)}
    assert len(document["messages"]) == 7
    for message in document["messages"]:
        expected = stored[uuid.UUID(message["id"])].parent_id
        assert message["parent_id"] == (str(expected) if expected else None)
    assert document["conversation"]["current_message_id"] == str(tree.current_message_id)
    assert shape(document)[0] == [None, 0, 1, 2, 1, 4, 4]
    assert shape(document)[2] == [
        ("user", "first question"),
        ("assistant", "first answer"),
        ("user", "second question"),
        ("assistant", "second answer"),
    ]


def test_export_then_import_then_export_gives_the_same_tree(api, user, tree):
    first = export(api, tree.id)

    response = api.post(IMPORT, first, format="json")

    assert response.status_code == 201
    imported = Conversation.objects.get(id=response.json()["id"])
    second = export(api, imported.id)
    assert shape(second) == shape(first)
    ids = {m["id"] for m in first["messages"]}
    assert not ids & {m["id"] for m in second["messages"]}, "new ids"
    assert stored_branch(imported.id) == stored_branch(tree.id)
    # Depths, counts and the preview follow the tree as the services build it.
    depths = list(imported.messages.order_by("seq").values_list("depth", flat=True))
    assert depths == list(tree.messages.order_by("seq").values_list("depth", flat=True))
    assert (imported.message_count, imported.preview) == (7, "second answer")


def test_an_import_shows_the_other_branch_when_the_document_says_so(api, tree):
    document = export(api, tree.id)
    regenerated = document["messages"][6]
    document["conversation"]["current_message_id"] = regenerated["id"]

    imported = api.post(IMPORT, document, format="json").json()["id"]

    assert stored_branch(imported)[-2:] == [
        ("user", "second question, edited"),
        ("assistant", "answer to the edit, regenerated"),
    ]


def test_a_current_message_with_children_shows_the_newest_leaf_below_it(api, tree):
    document = export(api, tree.id)
    document["conversation"]["current_message_id"] = document["messages"][1]["id"]  # a1

    imported = api.post(IMPORT, document, format="json").json()["id"]

    # a1's newest child is the edit, whose newest child is the regenerated answer.
    assert stored_branch(imported)[-1] == ("assistant", "answer to the edit, regenerated")


def test_an_export_from_before_branches_imports_as_one_straight_branch(api, tree):
    document = export(api, tree.id)
    del document["conversation"]["current_message_id"]
    for message in document["messages"]:
        del message["id"], message["parent_id"]

    imported = api.post(IMPORT, document, format="json").json()["id"]

    rows = list(
        Message.objects.filter(conversation_id=imported)
        .order_by("seq")
        .values_list("id", "parent_id", "depth")
    )
    assert [(parent, depth) for _, parent, depth in rows] == [
        (None, 1),
        *((rows[n][0], n + 2) for n in range(6)),
    ]
    assert Conversation.objects.get(id=imported).current_message_id == rows[-1][0]
    assert [content for _, content in stored_branch(imported)] == [
        m["content"] for m in document["messages"]
    ]


def test_messages_are_placed_in_seq_order_whatever_the_documents_order(api, tree):
    document = export(api, tree.id)
    document["messages"].reverse()

    imported = api.post(IMPORT, document, format="json").json()["id"]

    assert shape(export(api, imported)) == shape(export(api, tree.id))


def _first_id(document):
    return document["messages"][0]["id"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        # A parent later in the document, the message itself, or none of its messages.
        (lambda d: d["messages"][1].update(parent_id=d["messages"][3]["id"]), "messages[1]"),
        (lambda d: d["messages"][2].update(parent_id=d["messages"][2]["id"]), "messages[2]"),
        (lambda d: d["messages"][2].update(parent_id=str(uuid.uuid4())), "messages[2]"),
        # A cycle: each of two messages the other's parent.
        (
            lambda d: (
                d["messages"][0].update(parent_id=d["messages"][1]["id"]),
                d["messages"][1].update(parent_id=d["messages"][0]["id"]),
            ),
            "messages[0]",
        ),
        (lambda d: d["messages"][2].update(parent_id="not-a-uuid"), "messages"),
        (lambda d: d["messages"][2].update(id=_first_id(d)), "messages[2].id"),
        (lambda d: d["messages"][2].update(id="not-a-uuid"), "messages"),
        (
            lambda d: d["conversation"].update(current_message_id=str(uuid.uuid4())),
            "conversation.current_message_id",
        ),
        (lambda d: d["conversation"].update(current_message_id=7), "conversation"),
    ],
)
def test_a_document_whose_tree_does_not_hold_is_a_400_and_stores_nothing(api, tree, mutate, field):
    document = export(api, tree.id)
    mutate(document)

    response = api.post(IMPORT, document, format="json")

    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()), response.json()
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 7


def test_parent_ids_are_the_documents_own_never_stored_messages(api, user, tree):
    # The id of a stored message of the user's, not in the document: still no parent.
    document = export(api, tree.id)
    stored = document["messages"][1]["id"]
    document["messages"] = document["messages"][2:4]
    document["messages"][0]["parent_id"] = stored
    document["conversation"]["current_message_id"] = None

    response = api.post(IMPORT, document, format="json")

    assert response.status_code == 400
    assert response.json()["messages[0].parent_id"] == ["Not an earlier message of this document."]
    assert Conversation.objects.count() == 1


def _chain(count: int) -> list[dict]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    return [
        {"id": ids[n], "parent_id": ids[n - 1] if n else None, "role": "user", "content": f"m{n}"}
        for n in range(count)
    ]


def _fan(count: int) -> list[dict]:
    root = str(uuid.uuid4())
    return [{"id": root, "parent_id": None, "role": "user", "content": "root"}] + [
        {"id": str(uuid.uuid4()), "parent_id": root, "role": "assistant", "content": f"v{n}"}
        for n in range(count - 1)
    ]


@pytest.mark.parametrize("count", [10, 2000])
@pytest.mark.parametrize("make", [_chain, _fan], ids=["deep", "wide"])
def test_an_import_costs_the_same_queries_for_any_size_and_shape_of_tree(
    api, count, make, django_assert_num_queries
):
    document = {
        "format": "numina.conversation",
        "version": 1,
        "conversation": {"title": "shape"},
        "messages": make(count),
    }
    api.get("/api/v1/conversations/")  # the token's first use is not the import's cost

    # Token, conversation row, one message insert, change number and save, the answer's
    # read, and the transaction's savepoint pair.
    with django_assert_num_queries(8):
        response = api.post(IMPORT, document, format="json")

    assert response.status_code == 201
    conversation = Conversation.objects.get(id=response.json()["id"])
    current = Message.objects.get(pk=conversation.current_message_id)
    assert conversation.message_count == count
    assert current.content == document["messages"][-1]["content"]
    assert current.depth == (count if make is _chain else 2)


def test_markdown_prints_the_current_branch_only_in_order(api, tree):
    response = api.get(export_url(tree.id), {"format": "markdown"})

    text = body_of(response).decode()
    shown = ["first question", "first answer", "second question", "second answer"]
    positions = [text.index(f"\n\n{content}\n") for content in shown]
    assert positions == sorted(positions)
    assert "edit" not in text
    assert "- Messages: 4 on the current branch (7 stored)\n" in text
    assert text.count("\n### ") == 4


def test_markdown_of_a_straight_chat_says_how_many_messages(api, user):
    conversation = services.create_conversation(user=user, title="Straight")
    for n in range(3):
        add(user, conversation, "user", f"message {n}")

    text = body_of(api.get(export_url(conversation.id), {"format": "markdown"})).decode()

    assert "- Messages: 3\n" in text
    assert text.count("\n### ") == 3


@pytest.mark.parametrize("depth", [10, 300])
def test_markdown_export_costs_the_same_queries_at_any_depth(
    api, user, depth, django_assert_num_queries
):
    conversation = services.create_conversation(user=user, title="Deep")
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[services.NewMessage(role="user", content=f"m{n}") for n in range(depth)],
    )
    api.get("/api/v1/conversations/")

    # Token, the conversation, the branch's length and its messages (one cursor).
    with django_assert_num_queries(4):
        text = body_of(api.get(export_url(conversation.id), {"format": "markdown"})).decode()

    assert text.count("\n### ") == depth


def test_search_finds_text_that_is_only_on_a_branch_not_shown(api, user, tree):
    hidden = Message.objects.get(conversation=tree, content="answer to the edit, regenerated")
    assert hidden.id not in set(
        branches.branch(conversation_id=tree.id, leaf_id=tree.current_message_id).values_list(
            "id", flat=True
        )
    )

    results = api.get(SEARCH, {"q": "regenerated"}).json()["results"]

    assert [(r["message_id"], r["seq"], r["conversation_id"]) for r in results] == [
        (str(hidden.id), hidden.seq, str(tree.id))
    ]
