"""A conversation's ``client_id`` (API.md, "Conversation"): a client that created it
offline sends the create again after a lost answer and gets the same conversation."""

import json
import threading
import uuid

import pytest
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from conversations import services
from conversations.models import ChangeCounter, Conversation, DeletedConversation

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"


def test_a_create_sent_again_with_its_client_id_answers_200_and_changes_nothing(api, user):
    client_id = str(uuid.uuid4())
    first = api.post(LIST, {"title": "Offline", "tags": ["a"], "client_id": client_id}, "json")
    assert first.status_code == 201
    assert first.json()["client_id"] == client_id
    change_seq = Conversation.objects.get().change_seq

    again = api.post(LIST, {"title": "Other", "is_pinned": True, "client_id": client_id}, "json")

    assert again.status_code == 200
    assert again.json() == first.json()
    stored = Conversation.objects.get()
    assert (stored.title, stored.is_pinned, stored.change_seq) == ("Offline", False, change_seq)


def test_without_a_client_id_each_create_is_a_new_conversation(api):
    answers = [api.post(LIST, {"title": "Same"}, "json") for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201]
    assert [a.json()["client_id"] for a in answers] == [None, None]
    assert Conversation.objects.count() == 2


def test_another_users_identical_client_id_is_their_own_conversation(api, other_user):
    client_id = uuid.uuid4()
    theirs = services.create_conversation(user=other_user, title="Theirs", client_id=client_id)

    mine = api.post(LIST, {"title": "Mine", "client_id": str(client_id)}, "json")

    assert mine.status_code == 201
    assert mine.json()["id"] != str(theirs.id)
    assert mine.json()["title"] == "Mine"
    assert Conversation.objects.filter(client_id=client_id).count() == 2


@pytest.mark.parametrize("client_id", ["not-a-uuid", {"a": 1}, ["x"]])
def test_a_client_id_that_is_not_a_uuid_is_a_400(api, client_id):
    response = api.post(LIST, {"title": "x", "client_id": client_id}, "json")
    assert response.status_code == 400
    assert set(response.json()) == {"client_id"}
    assert not Conversation.objects.exists()


def test_a_replay_is_still_checked_against_the_bounds(api, user):
    client_id = uuid.uuid4()
    services.create_conversation(user=user, title="Kept", client_id=client_id)
    response = api.post(LIST, {"title": "   ", "client_id": str(client_id)}, "json")
    assert response.status_code == 400
    assert set(response.json()) == {"title"}


def test_the_client_id_of_a_deleted_conversation_does_not_bring_it_back(api, user):
    client_id = uuid.uuid4()
    conversation = services.create_conversation(user=user, title="Gone", client_id=client_id)
    services.delete_conversation(user=user, conversation_id=conversation.id)
    assert DeletedConversation.objects.get().client_id == client_id

    response = api.post(LIST, {"title": "Gone", "client_id": str(client_id)}, "json")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    # The trashed one only; it stays there.
    assert Conversation.objects.get().trashed_at is not None


def test_every_conversation_answer_carries_the_client_id(api, user):
    client_id = uuid.uuid4()
    conversation = services.create_conversation(user=user, title="x", client_id=client_id)
    expected = str(client_id)
    assert api.get(LIST).json()["results"][0]["client_id"] == expected
    assert api.get(f"{LIST}{conversation.id}/").json()["client_id"] == expected
    patched = api.patch(f"{LIST}{conversation.id}/", {"title": "y"}, "json")
    assert patched.json()["client_id"] == expected
    assert api.get("/api/v1/sync/").json()["conversations"][0]["client_id"] == expected


def test_export_keeps_the_client_id_and_import_leaves_it_out(api, user):
    """Import makes a new conversation each time (importing one file twice gives two), so
    the client_id the original was made with stays the original's."""
    client_id = uuid.uuid4()
    conversation = services.create_conversation(user=user, title="x", client_id=client_id)
    response = api.get(f"{LIST}{conversation.id}/export/")
    document = json.loads(b"".join(response.streaming_content))
    assert document["conversation"]["client_id"] == str(client_id)

    imported = [api.post(f"{LIST}import/", document, "json") for _ in range(2)]

    assert [i.status_code for i in imported] == [201, 201]
    assert [i.json()["client_id"] for i in imported] == [None, None]
    assert Conversation.objects.filter(client_id=client_id).get().id == conversation.id


def _waiting_for_locks() -> int:
    with connection.cursor() as cursor:
        # The activity view is read once per transaction unless its snapshot is cleared
        # (the caller holds a transaction open).
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_two_creates_with_one_client_id_at_once_make_one_conversation(user, token_for):
    """Both creates are held at the user's change counter after each found no conversation
    with the client_id, so both go on to insert: the second must read the first's."""
    services.create_conversation(user=user, title="makes the counter row")
    client_id = str(uuid.uuid4())
    answers: list = []

    def create(client: APIClient) -> None:
        try:
            answers.append(client.post(LIST, {"title": "Offline", "client_id": client_id}, "json"))
        except Exception as exc:  # noqa: BLE001 (the assertion below reports it)
            answers.append(exc)
        finally:
            connections.close_all()

    clients = [APIClient() for _ in range(2)]
    for client in clients:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    creators = [threading.Thread(target=create, args=(client,)) for client in clients]
    with transaction.atomic():
        ChangeCounter.objects.select_for_update().get(owner=user)
        for creator in creators:
            creator.start()
        for _ in range(250):
            if _waiting_for_locks() >= 2:
                break
            threading.Event().wait(0.02)
        assert _waiting_for_locks() >= 2, "the creates never both reached the change counter"
    for creator in creators:
        creator.join(timeout=30)

    assert sorted(answer.status_code for answer in answers) == [200, 201], answers
    assert answers[0].json() == answers[1].json()
    assert Conversation.objects.filter(client_id=client_id).count() == 1
