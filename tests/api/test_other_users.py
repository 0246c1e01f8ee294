"""Another user's conversation answers exactly like one that does not exist, on every
endpoint, method and kind of authentication, and nothing of it changes."""

import uuid

import pytest

from conversations import services
from conversations.models import Conversation, Message, ShareLink

pytestmark = pytest.mark.django_db

BODY = {
    "title": "mine now",
    "is_archived": True,
    "tags": ["stolen"],
    "role": "user",
    "content": "hi",
}
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
ENDPOINTS = [
    ("get", "/api/v1/conversations/{id}/"),
    ("patch", "/api/v1/conversations/{id}/"),
    ("delete", "/api/v1/conversations/{id}/"),
    ("get", "/api/v1/conversations/{id}/messages/"),
    ("post", "/api/v1/conversations/{id}/messages/"),
    ("get", "/api/v1/conversations/{id}/export/"),
    ("get", "/api/v1/conversations/{id}/export/?format=markdown"),
    ("get", "/api/v1/conversations/{id}/context/"),
    ("post", "/api/v1/conversations/{id}/share/"),
    ("delete", "/api/v1/conversations/{id}/share/"),
]


MEMORY_ENDPOINTS = [
    ("patch", "/api/v1/memory/{id}/"),
    ("delete", "/api/v1/memory/{id}/"),
]


@pytest.fixture(params=["token", "session"])
def client_of_user(request):
    return request.getfixturevalue("api" if request.param == "token" else "session_api")


def snapshot(conversation_id) -> tuple:
    return (
        Conversation.objects.filter(id=conversation_id).values().first(),
        list(Message.objects.filter(conversation_id=conversation_id).values()),
        list(Conversation.objects.get(id=conversation_id).tags.values_list("name", flat=True)),
        list(ShareLink.objects.filter(conversation_id=conversation_id).values()),
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_another_users_conversation_is_the_same_404_as_a_random_id(
    client_of_user, other_user, method, path
):
    theirs = services.create_conversation(user=other_user, title="private", tags=["theirs"])
    services.add_message(user=other_user, conversation_id=theirs.id, role="user", content="secret")
    # Shared: another user can neither add a link to it nor end this one.
    shared = services.share_conversation(user=other_user, conversation_id=theirs.id)
    before = snapshot(theirs.id)

    call = getattr(client_of_user, method)
    theirs_response = (
        call(path.format(id=theirs.id), BODY, format="json")
        if method in {"post", "patch"}
        else call(path.format(id=theirs.id))
    )
    random_response = (
        call(path.format(id=uuid.uuid4()), BODY, format="json")
        if method in {"post", "patch"}
        else call(path.format(id=uuid.uuid4()))
    )

    assert theirs_response.status_code == random_response.status_code == 404
    assert theirs_response.json() == random_response.json() == NOT_FOUND
    assert snapshot(theirs.id) == before
    assert client_of_user.get(f"/api/v1/shared/{shared.token}/").status_code == 200


# Every path that takes an id, the auth slice's device included.
ID_ENDPOINTS = [
    *ENDPOINTS,
    ("delete", "/api/v1/auth/devices/{id}/"),
    *MEMORY_ENDPOINTS,
]


@pytest.mark.parametrize("not_a_uuid", ["12345", "not-a-uuid", f"{uuid.UUID(int=1)}x"])
@pytest.mark.parametrize(("method", "path"), ID_ENDPOINTS)
def test_a_non_uuid_id_is_the_same_404_as_a_missing_one(api, method, path, not_a_uuid):
    # The <uuid:…> converter matches no such path: Django's 404 handler answers it, and
    # under /api/ with the very body DRF gives for an id that does not exist.
    call = getattr(api, method)
    missing = call(path.format(id=uuid.uuid4()), BODY, format="json")
    malformed = call(path.format(id=not_a_uuid), BODY, format="json")
    assert missing.status_code == malformed.status_code == 404
    assert missing.json() == malformed.json() == NOT_FOUND
    assert malformed["Content-Type"] == "application/json"


def test_an_unknown_path_outside_the_api_is_still_the_html_404(client, user):
    client.force_login(user)
    response = client.get("/chats/12345/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        *ENDPOINTS,
        ("get", "/api/v1/conversations/"),
        ("post", "/api/v1/conversations/"),
        ("get", "/api/v1/search/?q=x"),
        ("get", "/api/v1/sync/"),
        ("post", "/api/v1/conversations/import/"),
        ("post", "/api/v1/chat/regenerate/"),
        ("get", "/api/v1/me/"),
        ("post", "/api/v1/auth/logout/"),
        ("get", "/api/v1/memory/"),
        ("post", "/api/v1/memory/"),
        *MEMORY_ENDPOINTS,
        ("get", "/api/v1/me/settings/"),
        ("patch", "/api/v1/me/settings/"),
        ("post", "/api/v1/conversations/bulk/"),
        ("get", "/api/v1/tags/"),
    ],
)
def test_every_endpoint_needs_credentials(anon_api, other_user, method, path):
    theirs = services.create_conversation(user=other_user)
    response = getattr(anon_api, method)(path.format(id=theirs.id), BODY, format="json")
    assert response.status_code == 401


def test_chat_into_another_users_conversation_is_the_same_404(client_of_user, other_user):
    theirs = services.create_conversation(user=other_user, title="private")
    before = snapshot(theirs.id)
    body = {"message": "let me in", "conversation_id": str(theirs.id)}
    theirs_response = client_of_user.post("/api/v1/chat/", body, format="json")
    random_response = client_of_user.post(
        "/api/v1/chat/", {**body, "conversation_id": str(uuid.uuid4())}, format="json"
    )
    assert theirs_response.status_code == random_response.status_code == 404
    assert theirs_response.json() == random_response.json()
    assert snapshot(theirs.id) == before


def test_other_users_conversations_never_appear_in_lists(api, user, other_user):
    services.create_conversation(user=other_user, title="theirs", tags=["shared-name"])
    services.create_conversation(user=user, title="mine", tags=["shared-name"])
    assert [c["title"] for c in api.get("/api/v1/conversations/").json()["results"]] == ["mine"]
    assert [
        c["title"]
        for c in api.get("/api/v1/conversations/", {"tag": "shared-name"}).json()["results"]
    ] == ["mine"]
    assert [
        c["title"] for c in api.get("/api/v1/conversations/", {"q": "theirs"}).json()["results"]
    ] == []
    assert api.get("/api/v1/tags/").json() == [{"name": "shared-name", "conversations": 1}]


# --- branches: another user's messages are as unknown as random ids ---------------------


def _their_exchange(other_user):
    theirs = services.create_conversation(user=other_user, title="private")
    asked = services.add_message(
        user=other_user, conversation_id=theirs.id, role="user", content="secret"
    ).message
    reply = services.add_message(
        user=other_user, conversation_id=theirs.id, role="assistant", content="secret reply"
    ).message
    return theirs, asked, reply


def test_regenerating_another_users_reply_is_the_same_404(client_of_user, other_user):
    theirs, _, reply = _their_exchange(other_user)
    before = snapshot(theirs.id)

    for stream in (False, True):
        theirs_response = client_of_user.post(
            "/api/v1/chat/regenerate/",
            {"message_id": str(reply.id), "stream": stream},
            format="json",
        )
        random_response = client_of_user.post(
            "/api/v1/chat/regenerate/",
            {"message_id": str(uuid.uuid4()), "stream": stream},
            format="json",
        )
        assert theirs_response.status_code == random_response.status_code == 404
        assert theirs_response.json() == random_response.json() == NOT_FOUND
    assert snapshot(theirs.id) == before


def test_switching_another_users_conversation_is_the_same_404(client_of_user, other_user):
    theirs, asked, _ = _their_exchange(other_user)
    before = snapshot(theirs.id)
    body = {"current_message_id": str(asked.id)}

    theirs_response = client_of_user.patch(
        f"/api/v1/conversations/{theirs.id}/", body, format="json"
    )
    random_response = client_of_user.patch(
        f"/api/v1/conversations/{uuid.uuid4()}/", body, format="json"
    )

    assert theirs_response.status_code == random_response.status_code == 404
    assert theirs_response.json() == random_response.json() == NOT_FOUND
    assert snapshot(theirs.id) == before


def test_switching_to_another_users_message_is_a_400_and_changes_nothing(
    client_of_user, user, other_user
):
    theirs, asked, _ = _their_exchange(other_user)
    mine = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=mine.id, role="user", content="mine")
    before, before_theirs = snapshot(mine.id), snapshot(theirs.id)

    response = client_of_user.patch(
        f"/api/v1/conversations/{mine.id}/", {"current_message_id": str(asked.id)}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"current_message_id": ["Not a message of this conversation."]}
    assert (snapshot(mine.id), snapshot(theirs.id)) == (before, before_theirs)


def test_a_message_under_another_users_message_is_a_400_or_a_404_and_stores_nothing(
    client_of_user, user, other_user
):
    theirs, asked, _ = _their_exchange(other_user)
    mine = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=mine.id, role="user", content="mine")
    before, before_theirs = snapshot(mine.id), snapshot(theirs.id)
    body = {"role": "user", "content": "hi", "parent_id": str(asked.id)}

    into_mine = client_of_user.post(
        f"/api/v1/conversations/{mine.id}/messages/", body, format="json"
    )
    into_theirs = client_of_user.post(
        f"/api/v1/conversations/{theirs.id}/messages/", body, format="json"
    )

    assert into_mine.status_code == 400
    assert into_mine.json() == {"parent_id": ["Not a message of this conversation."]}
    assert into_theirs.status_code == 404
    assert into_theirs.json() == NOT_FOUND
    assert (snapshot(mine.id), snapshot(theirs.id)) == (before, before_theirs)


def test_a_chat_after_another_users_message_is_a_400_or_a_404_and_stores_nothing(
    client_of_user, user, other_user, settings
):
    settings.ANTHROPIC_API_KEY = ""  # the offline provider, were anything to reach it
    theirs, asked, _ = _their_exchange(other_user)
    mine = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=mine.id, role="user", content="mine")
    before, before_theirs = snapshot(mine.id), snapshot(theirs.id)

    for stream in (False, True):
        body = {"message": "let me in", "parent_id": str(asked.id), "stream": stream}
        into_mine = client_of_user.post(
            "/api/v1/chat/", {**body, "conversation_id": str(mine.id)}, format="json"
        )
        into_theirs = client_of_user.post(
            "/api/v1/chat/", {**body, "conversation_id": str(theirs.id)}, format="json"
        )
        assert into_mine.status_code == 400
        assert into_mine.json() == {"parent_id": ["Not a message of this conversation."]}
        assert into_theirs.status_code == 404
        assert into_theirs.json() == NOT_FOUND
    assert (snapshot(mine.id), snapshot(theirs.id)) == (before, before_theirs)


@pytest.mark.parametrize(("method", "path"), MEMORY_ENDPOINTS)
def test_another_users_memory_item_is_the_same_404_as_a_random_id(
    client_of_user, other_user, method, path
):
    from memory import services as memory_services
    from memory.models import MemoryItem

    theirs = memory_services.create_item(user=other_user, kind="name", content="Eve")
    before = MemoryItem.objects.filter(id=theirs.id).values().first()
    body = {"kind": "fact", "content": "mine now"}

    call = getattr(client_of_user, method)
    theirs_response = call(path.format(id=theirs.id), body, format="json")
    random_response = call(path.format(id=uuid.uuid4()), body, format="json")

    assert theirs_response.status_code == random_response.status_code == 404
    assert theirs_response.json() == random_response.json() == NOT_FOUND
    assert MemoryItem.objects.filter(id=theirs.id).values().first() == before


@pytest.mark.parametrize(
    ("action", "tags"),
    [("archive", None), ("delete", None), ("restore", None), ("add_tags", ["mine"])],
)
def test_bulk_on_another_users_conversation_is_a_404_row_like_a_random_id(
    client_of_user, other_user, action, tags
):
    theirs = services.create_conversation(user=other_user, title="private", tags=["theirs"])
    before = snapshot(theirs.id)
    missing = uuid.uuid4()
    body = {"ids": [str(theirs.id), str(missing)], "action": action}
    if tags:
        body["tags"] = tags

    response = client_of_user.post("/api/v1/conversations/bulk/", body, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "results": [{"id": str(theirs.id), "status": 404}, {"id": str(missing), "status": 404}]
    }
    assert snapshot(theirs.id) == before


# --- uploaded files (issue 17): download, delete, attach, and nothing that tells ----------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/files/{id}/", None),
        ("delete", "/api/v1/files/{id}/", None),
        ("post", "/api/v1/chat/", {"message": "hi", "attachments": ["file:{id}"]}),
        (
            "post",
            "/api/v1/conversations/{conversation}/messages/",
            {"role": "user", "content": "hi", "attachments": ["file:{id}"]},
        ),
    ],
)
def test_another_users_file_is_the_same_404_as_a_random_id(
    client_of_user, user, other_user, method, path, body
):
    from conversations.models import MessageFile, UserFile
    from tests.files import samples

    theirs = samples.store(other_user, name="theirs.png")
    mine = services.create_conversation(user=user)

    def call(file_id):
        url = path.format(id=file_id, conversation=mine.id)
        if body is None:
            return getattr(client_of_user, method)(url)
        filled = {
            key: [item.format(id=file_id) for item in value] if isinstance(value, list) else value
            for key, value in body.items()
        }
        return getattr(client_of_user, method)(url, filled, format="json")

    theirs_response, random_response = call(theirs.id), call(uuid.uuid4())
    assert theirs_response.status_code == random_response.status_code == 404
    assert theirs_response.json() == random_response.json() == NOT_FOUND
    assert UserFile.objects.filter(id=theirs.id).exists()
    assert not MessageFile.objects.exists()
    assert not Message.objects.filter(owner=user).exists()
