"""Branches through the chat API (API.md "Branches"): editing a message is a chat with
parent_id, POST /api/v1/chat/regenerate/ makes a new version of a reply, and nothing
is ever overwritten — also when the model fails, and under concurrent writers."""

import json
import threading
import uuid

import pytest
from django.db import connection
from rest_framework.test import APIClient

from conversations import llm, services, streams
from conversations.models import Conversation, Message
from tests.fake_anthropic import Fail, Gate, Reply, Stream

pytestmark = pytest.mark.django_db

CHAT = "/api/v1/chat/"
REGENERATE = "/api/v1/chat/regenerate/"
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def post(api, url, body, **extra):
    return api.post(url, body, format="json", **extra)


def sse_events(response) -> list[tuple[str, dict]]:
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def snapshot(conversation_id) -> tuple:
    return (
        Conversation.objects.filter(id=conversation_id).values().first(),
        list(Message.objects.filter(conversation_id=conversation_id).order_by("seq").values()),
    )


def exchange(user, conversation, text) -> services.ChatResult:
    return services.chat(user=user, message=text, conversation_id=conversation.id)


def held(user) -> int:
    from django.core.cache import cache

    return cache.client.get_client(write=True).zcard(streams.slots_key(user.pk))


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


@pytest.fixture
def two_exchanges(user, conversation, offline):
    """one → reply, two → reply, through the offline provider."""
    return [exchange(user, conversation, "one"), exchange(user, conversation, "two")]


def assert_valid_tree(conversation_id) -> None:
    """Gapless seq; every parent a message of the conversation stored before its child,
    one level up; message_count counts them all; the current message is a leaf."""
    rows = list(
        Message.objects.filter(conversation_id=conversation_id)
        .order_by("seq")
        .values("id", "seq", "parent_id", "depth")
    )
    by_id = {row["id"]: row for row in rows}
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        parent = by_id.get(row["parent_id"])
        if row["parent_id"] is None:
            assert row["depth"] == 1
        else:
            assert parent is not None
            assert parent["seq"] < row["seq"]
            assert row["depth"] == parent["depth"] + 1
    conversation = Conversation.objects.get(id=conversation_id)
    assert conversation.message_count == len(rows)
    assert not any(row["parent_id"] == conversation.current_message_id for row in rows)


# --- editing: chat with parent_id ----------------------------------------------------------


def test_editing_a_message_answers_from_the_branch_up_to_its_parent(api, user, claude):
    claude.answer(Reply("first reply"), Reply("second reply"), Reply("reply to the edit"))
    first = post(api, CHAT, {"message": "one"}).json()
    conversation_id = first["conversation"]["id"]
    second = post(api, CHAT, {"message": "two", "conversation_id": conversation_id}).json()

    edited = post(
        api,
        CHAT,
        {
            "message": "two, edited",
            "conversation_id": conversation_id,
            "parent_id": second["user_message"]["parent_id"],
        },
    )

    assert edited.status_code == 201
    body = edited.json()
    assert body["user_message"]["parent_id"] == first["assistant_message"]["id"]
    assert body["user_message"]["sibling_ids"] == [
        second["user_message"]["id"],
        body["user_message"]["id"],
    ]
    assert body["assistant_message"]["parent_id"] == body["user_message"]["id"]
    assert body["assistant_message"]["sibling_ids"] == [body["assistant_message"]["id"]]
    assert body["conversation"]["current_message_id"] == body["assistant_message"]["id"]
    assert body["conversation"]["message_count"] == 6
    # The model saw the branch up to the parent plus the new text, not the old "two".
    assert claude.requests[-1].body["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first reply"},
        {"role": "user", "content": "two, edited"},
    ]
    shown = api.get(f"/api/v1/conversations/{conversation_id}/").json()["messages"]
    assert [m["content"] for m in shown] == [
        "one",
        "first reply",
        "two, edited",
        "reply to the edit",
    ]


def test_editing_the_first_message_is_a_parent_id_of_null(api, user, claude):
    first = post(api, CHAT, {"message": "one"}).json()
    conversation_id = first["conversation"]["id"]

    body = post(
        api, CHAT, {"message": "one, edited", "conversation_id": conversation_id, "parent_id": None}
    ).json()

    assert body["user_message"]["parent_id"] is None
    assert body["user_message"]["sibling_ids"] == [
        first["user_message"]["id"],
        body["user_message"]["id"],
    ]
    assert claude.requests[-1].body["messages"] == [{"role": "user", "content": "one, edited"}]


def test_a_null_parent_id_in_a_new_chat_is_its_first_message(api, user, offline):
    response = post(api, CHAT, {"message": "hello", "parent_id": None})

    assert response.status_code == 201
    assert response.json()["user_message"]["parent_id"] is None
    assert response.json()["conversation"]["message_count"] == 2


def test_without_parent_id_chat_goes_after_the_current_message(api, user, conversation, offline):
    one, two = exchange(user, conversation, "one"), exchange(user, conversation, "two")
    services.add_message(
        user=user,
        conversation_id=conversation.id,
        role="user",
        content="two, edited",
        parent_id=one.assistant_message.id,
    )
    services.switch_branch(
        user=user, conversation_id=conversation.id, message_id=two.user_message.id
    )

    body = post(api, CHAT, {"message": "three", "conversation_id": str(conversation.id)}).json()

    # After the branch switched back to: the end of "two"'s branch, not the newest message.
    assert body["user_message"]["parent_id"] == str(two.assistant_message.id)
    assert body["conversation"]["current_message_id"] == body["assistant_message"]["id"]


def test_a_streamed_edit_ends_with_the_201_object(api, user, conversation, two_exchanges):
    body = {
        "message": "two, edited",
        "conversation_id": str(conversation.id),
        "parent_id": str(two_exchanges[0].assistant_message.id),
        "stream": True,
    }

    events = sse_events(post(api, CHAT, body))

    name, done = events[-1]
    assert name == "done"
    assert done["user_message"]["parent_id"] == str(two_exchanges[0].assistant_message.id)
    assert done["user_message"]["sibling_ids"] == [
        str(two_exchanges[1].user_message.id),
        done["user_message"]["id"],
    ]
    assert done["conversation"]["current_message_id"] == done["assistant_message"]["id"]


def test_a_failed_edit_answers_502_with_the_stored_message_and_its_versions(
    api, user, conversation, claude
):
    claude.answer(Reply("first reply"))
    first = exchange(user, conversation, "one")
    claude.default = Fail(500)

    response = post(
        api,
        CHAT,
        {"message": "one, edited", "conversation_id": str(conversation.id), "parent_id": None},
    )

    assert response.status_code == 502
    stored = response.json()["user_message"]
    assert stored["sibling_ids"] == [str(first.user_message.id), stored["id"]]
    conversation.refresh_from_db()
    assert conversation.current_message_id == uuid.UUID(stored["id"])


def test_parent_id_needs_the_conversation_id_and_stores_nothing(api, user, offline):
    response = post(api, CHAT, {"message": "hi", "parent_id": str(uuid.uuid4())})

    assert response.status_code == 400
    assert list(response.json()) == ["parent_id"]
    assert not Conversation.objects.exists()


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", 7, ["x"], {"id": "x"}, False])
def test_a_malformed_parent_id_is_400_and_stores_nothing(api, conversation, two_exchanges, bad):
    before = snapshot(conversation.id)

    response = post(
        api, CHAT, {"message": "hi", "conversation_id": str(conversation.id), "parent_id": bad}
    )

    assert response.status_code == 400
    assert list(response.json()) == ["parent_id"]
    assert snapshot(conversation.id) == before


def test_a_parent_of_another_conversation_is_400_stores_nothing_asks_nothing(
    api, user, conversation, claude
):
    exchange(user, conversation, "here")
    elsewhere = services.create_conversation(user=user)
    stranger = exchange(user, elsewhere, "there").user_message
    asked = len(claude.requests)
    before, before_elsewhere = snapshot(conversation.id), snapshot(elsewhere.id)

    for parent_id in (stranger.id, uuid.uuid4()):
        for stream in (False, True):
            response = post(
                api,
                CHAT,
                {
                    "message": "hi",
                    "conversation_id": str(conversation.id),
                    "parent_id": str(parent_id),
                    "stream": stream,
                },
            )
            assert response.status_code == 400
            assert response.json() == {"parent_id": ["Not a message of this conversation."]}
    assert snapshot(conversation.id) == before
    assert snapshot(elsewhere.id) == before_elsewhere
    assert len(claude.requests) == asked


# --- regenerate ------------------------------------------------------------------------------


def test_regenerate_answers_201_with_a_new_current_sibling(api, user, conversation, claude):
    claude.answer(Reply("first reply"), Reply("second reply"), Reply("another take"))
    exchange(user, conversation, "one")
    second = exchange(user, conversation, "two")

    response = post(api, REGENERATE, {"message_id": str(second.assistant_message.id)})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"conversation", "assistant_message"}
    reply = body["assistant_message"]
    assert (reply["role"], reply["content"]) == ("assistant", "another take")
    assert reply["parent_id"] == str(second.user_message.id)
    assert reply["sibling_ids"] == [str(second.assistant_message.id), reply["id"]]
    assert reply["seq"] == 5
    assert body["conversation"]["current_message_id"] == reply["id"]
    assert body["conversation"]["message_count"] == 5
    assert body["conversation"]["preview"] == "another take"
    # Made from the branch before the reply: the old reply is not in it.
    assert claude.requests[-1].body["messages"] == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "first reply"},
        {"role": "user", "content": "two"},
    ]
    # The old reply is kept, word for word.
    old = Message.objects.get(id=second.assistant_message.id)
    assert (old.content, old.parent_id) == ("second reply", second.user_message.id)
    shown = api.get(f"/api/v1/conversations/{conversation.id}/").json()["messages"]
    assert [m["content"] for m in shown] == ["one", "first reply", "two", "another take"]
    assert_valid_tree(conversation.id)


def test_regenerating_an_earlier_reply_follows_the_branch_before_it(
    api, user, conversation, claude
):
    claude.answer(Reply("first reply"), Reply("second reply"), Reply("a new first reply"))
    first, _ = exchange(user, conversation, "one"), exchange(user, conversation, "two")

    body = post(api, REGENERATE, {"message_id": str(first.assistant_message.id)}).json()

    assert claude.requests[-1].body["messages"] == [{"role": "user", "content": "one"}]
    assert body["assistant_message"]["parent_id"] == str(first.user_message.id)
    shown = api.get(f"/api/v1/conversations/{conversation.id}/").json()["messages"]
    assert [m["content"] for m in shown] == ["one", "a new first reply"]


def test_regenerate_streams_deltas_then_done_with_the_201_object(api, user, conversation, claude):
    claude.answer(Reply("first reply"), Stream(chunks=["ano", "ther"]))
    first = exchange(user, conversation, "one")

    response = post(
        api, REGENERATE, {"message_id": str(first.assistant_message.id), "stream": True}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = sse_events(response)
    assert events[:-1] == [("delta", {"text": "ano"}), ("delta", {"text": "ther"})]
    name, done = events[-1]
    assert name == "done"
    assert set(done) == {"conversation", "assistant_message"}
    assert done["assistant_message"]["content"] == "another"
    assert done["assistant_message"]["sibling_ids"] == [
        str(first.assistant_message.id),
        done["assistant_message"]["id"],
    ]
    assert done["conversation"]["current_message_id"] == done["assistant_message"]["id"]
    assert held(user) == 0


def test_regenerate_stream_accepts_an_event_stream_accept_header(api, two_exchanges):
    reply = two_exchanges[1].assistant_message
    response = post(
        api,
        REGENERATE,
        {"message_id": str(reply.id), "stream": True},
        HTTP_ACCEPT="text/event-stream",
    )

    events = sse_events(response)
    assert "".join(data["text"] for name, data in events if name == "delta") == llm.OFFLINE_REPLY
    assert events[-1][0] == "done"


def test_regenerate_of_a_user_message_is_400_and_changes_nothing(api, conversation, two_exchanges):
    before = snapshot(conversation.id)

    response = post(api, REGENERATE, {"message_id": str(two_exchanges[1].user_message.id)})

    assert response.status_code == 400
    assert list(response.json()) == ["message_id"]
    assert snapshot(conversation.id) == before


def test_regenerate_of_a_reply_that_follows_no_user_message_is_400(
    api, user, conversation, offline
):
    def add(role, content, **kwargs):
        return services.add_message(
            user=user, conversation_id=conversation.id, role=role, content=content, **kwargs
        ).message

    opening = add("assistant", "Hello, I am an imported greeting.")
    add("user", "hi")
    after_a_reply = add("assistant", "a second reply", parent_id=opening.id)
    before = snapshot(conversation.id)

    for message in (opening, after_a_reply):
        response = post(api, REGENERATE, {"message_id": str(message.id)})
        assert response.status_code == 400
        assert list(response.json()) == ["message_id"]
    assert snapshot(conversation.id) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message_id": None},
        {"message_id": "not-a-uuid"},
        {"message_id": 7.5},
        {"message_id": ["x"]},
        {"message_id": str(uuid.uuid4()), "stream": "sometimes"},
    ],
)
def test_regenerate_with_malformed_input_is_400(api, conversation, two_exchanges, body):
    before = snapshot(conversation.id)

    response = post(api, REGENERATE, body)

    assert response.status_code == 400
    assert snapshot(conversation.id) == before


def test_regenerate_with_malformed_json_is_400_with_a_detail(api):
    response = api.post(REGENERATE, "{not json", content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize("stream", [False, True])
def test_regenerate_of_an_unknown_message_is_404(api, offline, stream):
    response = post(api, REGENERATE, {"message_id": str(uuid.uuid4()), "stream": stream})

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("status", [500, 529])
@pytest.mark.parametrize("stream", [False, True])
def test_regenerate_when_the_model_fails_is_502_and_keeps_everything(
    api, user, conversation, claude, status, stream
):
    first = exchange(user, conversation, "one")
    before = snapshot(conversation.id)
    claude.default = Fail(status)

    response = post(
        api, REGENERATE, {"message_id": str(first.assistant_message.id), "stream": stream}
    )

    assert response.status_code == 502
    assert response.json() == {
        "detail": "The assistant could not answer right now. Nothing was changed.",
        "code": "llm_unavailable",
    }
    assert snapshot(conversation.id) == before
    assert held(user) == 0


def test_regenerate_stream_cut_short_ends_with_an_error_event_and_stores_nothing(
    api, user, conversation, claude
):
    first = exchange(user, conversation, "one")
    before = snapshot(conversation.id)
    claude.answer(Stream(chunks=["a", "b", "c"], fail_after=1))

    events = sse_events(
        post(api, REGENERATE, {"message_id": str(first.assistant_message.id), "stream": True})
    )

    assert events[0] == ("delta", {"text": "a"})
    name, error = events[-1]
    assert (name, error["code"]) == ("error", "llm_unavailable")
    assert set(error) == {"detail", "code"}
    assert snapshot(conversation.id) == before


def test_conversation_deleted_while_a_reply_is_regenerated_ends_with_an_error_event(
    api, user, conversation, claude
):
    first = exchange(user, conversation, "one")
    claude.answer(Stream(chunks=["a", "b", "c"]))
    response = post(
        api, REGENERATE, {"message_id": str(first.assistant_message.id), "stream": True}
    )
    chunks = iter(response.streaming_content)
    began = next(chunks)

    services.delete_conversation(user=user, conversation_id=conversation.id)

    text = b"".join([began, *chunks]).decode()
    last = text.strip().split("\n\n")[-1].splitlines()
    assert last[0] == "event: error"
    assert json.loads(last[1].split(": ", 1)[1])["code"] == "conversation_deleted"
    # The regenerated reply is not stored; the exchange waits in the trash, as it was.
    assert Message.objects.filter(conversation=conversation).count() == 2
    assert Conversation.objects.get(id=conversation.id).trashed_at is not None


def test_regenerate_shares_the_chat_throttle(api, user, conversation, offline, settings):
    settings.NUMINA_THROTTLE_CHAT = "2/min"
    first = post(api, CHAT, {"message": "one", "conversation_id": str(conversation.id)}).json()
    reply = {"message_id": first["assistant_message"]["id"]}

    answers = [post(api, REGENERATE, reply).status_code for _ in range(2)]

    assert answers == [201, 429]
    assert Message.objects.filter(conversation=conversation).count() == 3


def test_regenerate_over_the_daily_token_budget_is_429_and_stores_nothing(
    api, user, conversation, claude, settings
):
    settings.NUMINA_DAILY_TOKEN_BUDGET = 100
    claude.answer(Reply("expensive", input_tokens=90, output_tokens=10))
    first = exchange(user, conversation, "one")
    before = snapshot(conversation.id)

    for stream in (False, True):
        refused = post(
            api, REGENERATE, {"message_id": str(first.assistant_message.id), "stream": stream}
        )
        assert refused.status_code == 429
        assert refused.json()["code"] == "token_budget_exceeded"
        assert int(refused["Retry-After"]) > 0
    assert snapshot(conversation.id) == before
    assert len(claude.requests) == 1


def test_regenerate_stream_over_the_stream_cap_is_429(api, user, two_exchanges, settings):
    settings.NUMINA_MAX_STREAMS_PER_USER = 1
    slot = streams.acquire_stream_slot(user=user)
    reply = {"message_id": str(two_exchanges[1].assistant_message.id), "stream": True}
    try:
        refused = post(api, REGENERATE, reply)
    finally:
        slot.release()

    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_streams"
    assert int(refused["Retry-After"]) > 0
    assert post(api, REGENERATE, reply).status_code == 200


def test_regenerate_needs_credentials_and_post(anon_api, api):
    assert post(anon_api, REGENERATE, {"message_id": str(uuid.uuid4())}).status_code == 401
    assert api.get(REGENERATE).status_code == 405


# --- concurrent writers ----------------------------------------------------------------------


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def run_at_once(*calls) -> list:
    """Run each call in a thread of its own (its own database connection), all released
    together; their results in order, an exception where one raised."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as exc:  # noqa: BLE001 (the test reports it)
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_regenerates_at_once_give_twenty_siblings_and_a_valid_tree(
    user, token_for, offline, settings
):
    settings.NUMINA_THROTTLE_CHAT = "1000/min"
    conversation = services.create_conversation(user=user)
    first = exchange(user, conversation, "one")
    token = token_for(user)
    body = {"message_id": str(first.assistant_message.id)}

    answers = run_at_once(*[lambda: post(client_for(token), REGENERATE, body) for _ in range(20)])

    assert [getattr(answer, "status_code", answer) for answer in answers] == [201] * 20
    replies = list(
        Message.objects.filter(parent_id=first.user_message.id)
        .order_by("seq")
        .values_list("id", flat=True)
    )
    assert len(replies) == 21
    assert replies[0] == first.assistant_message.id
    assert {uuid.UUID(a.json()["assistant_message"]["id"]) for a in answers} == set(replies[1:])
    assert_valid_tree(conversation.id)
    conversation.refresh_from_db()
    # The last to commit is current: under the conversation's lock, the highest seq.
    assert conversation.current_message_id == replies[-1]
    assert conversation.message_count == 22


@pytest.mark.django_db(transaction=True)
def test_a_regenerate_racing_a_new_message_leaves_both_the_last_committed_current(
    user, token_for, offline, settings
):
    settings.NUMINA_THROTTLE_CHAT = "1000/min"
    token = token_for(user)
    for _ in range(5):  # each round a race; either may commit first
        conversation = services.create_conversation(user=user)
        first = exchange(user, conversation, "one")

        regenerated, added = run_at_once(
            lambda f=first: post(
                client_for(token), REGENERATE, {"message_id": str(f.assistant_message.id)}
            ),
            lambda c=conversation: post(
                client_for(token),
                f"/api/v1/conversations/{c.id}/messages/",
                {"role": "user", "content": "meanwhile"},
            ),
        )

        assert (regenerated.status_code, added.status_code) == (201, 201)
        assert_valid_tree(conversation.id)
        conversation.refresh_from_db()
        newest = Message.objects.filter(conversation=conversation).order_by("-seq").first()
        assert conversation.current_message_id == newest.id
        assert conversation.message_count == 4
        new_reply = Message.objects.get(id=regenerated.json()["assistant_message"]["id"])
        assert new_reply.parent_id == first.user_message.id
        meanwhile = Message.objects.get(id=added.json()["id"])
        # It went after whatever was current when it took the lock: the old reply, or
        # the new one when the regenerate committed first.
        assert meanwhile.parent_id in {first.assistant_message.id, new_reply.id}
        assert (meanwhile.parent_id == new_reply.id) == (meanwhile.seq > new_reply.seq)


@pytest.mark.django_db(transaction=True)
def test_a_regenerate_that_commits_after_a_new_message_is_current(
    user, token_for, claude, settings
):
    settings.ANTHROPIC_TIMEOUT = 20.0
    conversation = services.create_conversation(user=user)
    claude.answer(Reply("first reply"))
    first = exchange(user, conversation, "one")
    gate = Gate(Reply("regenerated"))
    claude.answer(gate)
    token = token_for(user)
    outcome: dict = {}

    def regenerate() -> None:
        try:
            outcome["response"] = post(
                client_for(token), REGENERATE, {"message_id": str(first.assistant_message.id)}
            )
        finally:
            connection.close()

    thread = threading.Thread(target=regenerate)
    thread.start()
    try:
        assert gate.entered.wait(10)
        # While the model writes, a new message arrives and commits.
        meanwhile = services.add_message(
            user=user, conversation_id=conversation.id, role="user", content="meanwhile"
        ).message
    finally:
        gate.release.set()
        thread.join(30)

    assert outcome["response"].status_code == 201
    reply = outcome["response"].json()["assistant_message"]
    conversation.refresh_from_db()
    assert conversation.current_message_id == uuid.UUID(reply["id"])
    assert meanwhile.parent_id == first.assistant_message.id
    assert Message.objects.filter(id=meanwhile.id).exists()
    assert_valid_tree(conversation.id)
    # Both branches are there to switch to.
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=meanwhile.id)
    conversation.refresh_from_db()
    assert conversation.current_message_id == meanwhile.id
