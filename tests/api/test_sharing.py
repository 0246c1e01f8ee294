"""Share links over the API (issue 18): POST/DELETE /api/v1/conversations/{id}/share/ and
the public GET /api/v1/shared/{token}/ — a snapshot, stored hashed, read without sign-in,
gone at once when revoked, trashed or deleted, one 404 for every token that opens
nothing, throttled per address."""

import hashlib
import string

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import delete_account
from conversations import services
from conversations.models import Conversation, ShareLink

pytestmark = pytest.mark.django_db

NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def share_url(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/share/"


def shared_url(token: str) -> str:
    return f"/api/v1/shared/{token}/"


def make_chat(user, *contents, title="Trip to Lisbon") -> Conversation:
    conversation = services.create_conversation(user=user, title=title)
    for index, content in enumerate(contents):
        services.add_message(
            user=user,
            conversation_id=conversation.id,
            role="user" if index % 2 == 0 else "assistant",
            content=content,
        )
    conversation.refresh_from_db()
    return conversation


@pytest.fixture
def chat(user):
    return make_chat(user, "Where should we eat?", "Try **Cervejaria Ramiro**.")


@pytest.fixture
def token(api, chat):
    return api.post(share_url(chat.id)).json()["token"]


# --- making and ending links --------------------------------------------------------------


def test_share_answers_201_with_token_url_and_time(api, chat):
    response = api.post(share_url(chat.id))

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"token", "url", "created_at"}
    assert body["url"] == f"http://testserver/s/{body['token']}/"


def test_the_token_has_at_least_128_bits_and_only_its_hash_is_stored(api, chat):
    token = api.post(share_url(chat.id)).json()["token"]

    # token_urlsafe(32): 43 characters of 6 bits each.
    assert len(token) >= 43
    assert set(token) <= set(string.ascii_letters + string.digits + "-_")
    link = ShareLink.objects.get(conversation=chat)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM conversations_sharelink")
        assert token not in repr(cursor.fetchall())


def test_each_share_is_a_new_token(api, chat):
    tokens = {api.post(share_url(chat.id)).json()["token"] for _ in range(3)}

    assert len(tokens) == 3


def test_anyone_reads_the_snapshot_without_signing_in(anon_api, token):
    response = anon_api.get(shared_url(token))

    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex"
    body = response.json()
    assert body["title"] == "Trip to Lisbon"
    assert [(m["role"], m["content"]) for m in body["messages"]] == [
        ("user", "Where should we eat?"),
        ("assistant", "Try **Cervejaria Ramiro**."),
    ]
    assert body["earlier_messages_left_out"] is False


def test_the_snapshot_names_no_owner_and_no_ids(anon_api, user, chat, token):
    body = anon_api.get(shared_url(token))

    text = body.content.decode()
    assert user.username not in text
    assert str(user.pk) not in text
    assert str(chat.id) not in text
    for message in chat.messages.all():
        assert str(message.id) not in text
    assert set(body.json()) == {"title", "shared_at", "messages", "earlier_messages_left_out"}
    assert set(body.json()["messages"][0]) == {"role", "content", "created_at"}


def test_a_message_added_after_sharing_is_not_shown(anon_api, user, chat, token):
    services.add_message(user=user, conversation_id=chat.id, role="user", content="And later?")
    services.rename_conversation(user=user, conversation_id=chat.id, title="Renamed")

    body = anon_api.get(shared_url(token)).json()

    assert [m["content"] for m in body["messages"]] == [
        "Where should we eat?",
        "Try **Cervejaria Ramiro**.",
    ]
    assert body["title"] == "Trip to Lisbon"


def test_the_snapshot_is_the_branch_shown_when_shared(api, anon_api, user, chat):
    first = chat.messages.get(seq=1)
    # A new version of the first message: the branch shown is now that one.
    services.add_message(
        user=user,
        conversation_id=chat.id,
        role="user",
        content="Where should we sleep?",
        parent_id=services.NO_PARENT,
    )
    token = api.post(share_url(chat.id)).json()["token"]
    services.switch_branch(user=user, conversation_id=chat.id, message_id=first.id)

    body = anon_api.get(shared_url(token)).json()

    assert [m["content"] for m in body["messages"]] == ["Where should we sleep?"]


def test_a_long_branch_shows_its_newest_messages(api, anon_api, user, settings):
    settings.NUMINA_SHARE_MAX_MESSAGES = 3
    chat = make_chat(user, "one", "two", "three", "four", "five")
    token = api.post(share_url(chat.id)).json()["token"]

    body = anon_api.get(shared_url(token)).json()

    assert [m["content"] for m in body["messages"]] == ["three", "four", "five"]
    assert body["earlier_messages_left_out"] is True


def test_sharing_a_chat_with_no_messages_is_400(api, user):
    empty = services.create_conversation(user=user)

    response = api.post(share_url(empty.id))

    assert response.status_code == 400
    assert response.json()["code"] == "nothing_to_share"
    assert not ShareLink.objects.exists()


def test_links_per_chat_are_bounded(api, chat, settings):
    settings.NUMINA_SHARE_MAX_LINKS = 2
    assert [api.post(share_url(chat.id)).status_code for _ in range(2)] == [201, 201]

    response = api.post(share_url(chat.id))

    assert response.status_code == 400
    assert response.json()["code"] == "too_many_share_links"
    assert ShareLink.objects.filter(conversation=chat).count() == 2


def test_stop_sharing_answers_204_and_every_link_is_404_at_once(api, anon_api, chat):
    tokens = [api.post(share_url(chat.id)).json()["token"] for _ in range(2)]
    assert all(anon_api.get(shared_url(t)).status_code == 200 for t in tokens)

    response = api.delete(share_url(chat.id))

    assert response.status_code == 204
    for token in tokens:
        gone = anon_api.get(shared_url(token))
        assert (gone.status_code, gone.json()) == (404, NOT_FOUND)


def test_stop_sharing_a_chat_that_is_not_shared_is_204(api, chat):
    assert api.delete(share_url(chat.id)).status_code == 204


def test_a_shared_chat_moved_to_the_trash_is_404_at_once_and_after_restore(
    api, anon_api, user, chat, token
):
    anon_api.get(shared_url(token))  # read once before: nothing of it may be kept

    services.trash_conversation(user=user, conversation_id=chat.id)

    assert anon_api.get(shared_url(token)).status_code == 404
    services.restore_conversation(user=user, conversation_id=chat.id)
    # Restoring does not publish the chat again.
    assert anon_api.get(shared_url(token)).status_code == 404


def test_a_shared_chat_in_the_trash_is_404_even_if_its_link_survived(anon_api, user, chat, token):
    # Defence in depth: the lookup itself refuses a trashed chat.
    Conversation.objects.filter(id=chat.id).update(trashed_at=chat.created_at)

    assert anon_api.get(shared_url(token)).status_code == 404


def test_a_shared_chat_deleted_for_good_is_404(api, anon_api, chat, token):
    api.delete(f"/api/v1/conversations/{chat.id}/?permanent=true")

    assert anon_api.get(shared_url(token)).status_code == 404
    assert not ShareLink.objects.exists()


def test_a_deleted_account_takes_its_share_links(anon_api, user, chat, token):
    delete_account(user=user, password="correct horse battery staple")  # the factory's

    assert anon_api.get(shared_url(token)).status_code == 404
    assert not ShareLink.objects.exists()


def test_a_deactivated_owners_links_are_404(anon_api, user, token):
    user.is_active = False
    user.save(update_fields=["is_active"])

    assert anon_api.get(shared_url(token)).status_code == 404


# --- tokens that open nothing -------------------------------------------------------------


def _one_character_changed(token: str) -> str:
    replacement = "A" if token[10] != "A" else "B"
    return token[:10] + replacement + token[11:]


@pytest.mark.parametrize(
    "make_bad",
    [
        pytest.param(lambda token: _one_character_changed(token), id="one-character-changed"),
        pytest.param(lambda token: "x" * len(token), id="right-length-unknown"),
        pytest.param(lambda token: token[:-1], id="one-character-short"),
        pytest.param(lambda token: token + "a", id="one-character-long"),
        pytest.param(lambda token: "a" * 5000, id="very-long"),
        pytest.param(lambda token: "%00", id="nul"),
        pytest.param(lambda token: "ü" * 43, id="not-ascii"),
    ],
)
def test_a_token_that_opens_nothing_is_the_same_404(anon_api, token, make_bad):
    response = anon_api.get(shared_url(make_bad(token)))

    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert response["X-Robots-Tag"] == "noindex"


def test_a_revoked_token_is_the_same_404_as_one_never_made(api, anon_api, chat, token):
    never = anon_api.get(shared_url(_one_character_changed(token)))
    api.delete(share_url(chat.id))

    revoked = anon_api.get(shared_url(token))

    assert (revoked.status_code, revoked.content) == (never.status_code, never.content)
    assert revoked.headers.keys() == never.headers.keys()


def test_share_lookups_are_throttled_per_address(anon_api, token, settings):
    settings.NUMINA_SHARE_RATE = "3/min"
    answers = [
        anon_api.get(shared_url(token), REMOTE_ADDR="10.0.0.1").status_code for _ in range(3)
    ]
    bad = anon_api.get(shared_url("nope"), REMOTE_ADDR="10.0.0.1")

    assert answers == [200, 200, 200]
    assert bad.status_code == 429
    assert int(bad["Retry-After"]) >= 1
    assert bad["X-Robots-Tag"] == "noindex"
    # Another address has its own bucket.
    assert anon_api.get(shared_url(token), REMOTE_ADDR="10.0.0.2").status_code == 200


def test_the_page_and_the_json_fill_one_bucket(client, anon_api, token, settings):
    settings.NUMINA_SHARE_RATE = "2/min"
    assert client.get(f"/s/{token}/", REMOTE_ADDR="10.0.0.3").status_code == 200
    assert anon_api.get(shared_url(token), REMOTE_ADDR="10.0.0.3").status_code == 200

    assert client.get(f"/s/{token}/", REMOTE_ADDR="10.0.0.3").status_code == 429
    assert anon_api.get(shared_url(token), REMOTE_ADDR="10.0.0.3").status_code == 429


def test_signing_in_buys_no_extra_lookups(api, token, settings):
    settings.NUMINA_SHARE_RATE = "1/min"
    api.get(shared_url(token))

    assert api.get(shared_url(token)).status_code == 429


# --- queries, methods, ownership ------------------------------------------------------------


def test_reading_a_snapshot_is_two_queries_however_long(anon_api, api, user):
    short = api.post(share_url(make_chat(user, "a", "b").id)).json()["token"]
    long = api.post(share_url(make_chat(user, *[f"m{i}" for i in range(60)]).id)).json()["token"]
    counts = []
    for token in (short, long):
        with CaptureQueriesContext(connection) as queries:
            assert anon_api.get(shared_url(token)).status_code == 200
        counts.append(len(queries))

    assert counts == [2, 2]  # the link with its conversation, the branch


def test_the_public_read_is_get_only(anon_api, token):
    assert anon_api.post(shared_url(token)).status_code == 405
    assert anon_api.delete(shared_url(token)).status_code == 405


def test_sharing_needs_sign_in(anon_api, chat):
    assert anon_api.post(share_url(chat.id)).status_code == 401
    assert anon_api.delete(share_url(chat.id)).status_code == 401
    assert not ShareLink.objects.exists()


def test_share_of_an_unknown_chat_is_404(api):
    assert api.post(share_url("00000000-0000-0000-0000-000000000000")).status_code == 404
    assert api.post("/api/v1/conversations/not-a-uuid/share/").status_code == 404


def test_share_works_with_a_browser_session(session_api, chat):
    assert session_api.post(share_url(chat.id)).status_code == 201
