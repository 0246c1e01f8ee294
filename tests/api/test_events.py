"""GET /api/v1/events/ on the production serving model (numina/asgi.py under uvicorn),
against the real PostgreSQL and Redis: every write commits for real."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from django.db import transaction

from conversations import cursors, live, services
from tests.event_stream import EventReader, StreamClosed

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = "/api/v1/events/"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def server(asgi_server):
    return asgi_server


@pytest.fixture
def writer(server, user, token_for):
    """A second client of ``user`` (the phone), writing through the API."""
    with httpx.Client(base_url=server.url, headers=bearer(token_for(user)), timeout=30) as client:
        yield client


def open_stream(server, token: str, **headers: str) -> EventReader:
    reader = EventReader(url=f"{server.url}{EVENTS}", headers={**bearer(token), **headers})
    assert reader.status_code == 200, reader.response.read()
    start = reader.next()  # the id-only block: where the stream starts
    assert start.kind == ""
    assert start.data is None
    assert start.id is not None
    return reader


def wait_until(condition, *, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_another_client_of_the_user_hears_each_committed_change(server, user, token_for, writer):
    with open_stream(server, token_for(user)) as stream:
        created = writer.post("/api/v1/conversations/", json={"title": "Trip"}).json()
        event = stream.next_event()
        assert (event.kind, event.data["id"], event.data["title"]) == (
            "conversation",
            created["id"],
            "Trip",
        )

        message = writer.post(
            f"/api/v1/conversations/{created['id']}/messages/",
            json={"role": "user", "content": "Pack the tent"},
        ).json()
        changed = stream.next_event()
        assert changed.kind == "conversation"
        assert changed.data["message_count"] == 1
        arrived = stream.next_event()
        assert arrived.kind == "message"
        assert arrived.data == message  # the API's own message object

        writer.patch(f"/api/v1/conversations/{created['id']}/", json={"title": "Camping"})
        renamed = stream.next_event()
        assert (renamed.kind, renamed.data["title"]) == ("conversation", "Camping")

        assert writer.delete(f"/api/v1/conversations/{created['id']}/").status_code == 204
        deleted = stream.next_event()
        assert (deleted.kind, deleted.data) == ("deleted", {"id": created["id"]})
        # Each event's id is the sync token after it: sync from it has nothing more.
        sync = writer.get("/api/v1/sync/", params={"since": deleted.id, "include": "messages"})
        assert sync.json()["conversations"] == sync.json()["deleted"] == []


def test_a_rolled_back_write_sends_nothing(server, user, token_for):
    kept = services.create_conversation(user=user, title="Kept")
    with open_stream(server, token_for(user)) as stream:

        def write_then_fail() -> None:
            with transaction.atomic():
                services.create_conversation(user=user, title="Rolled back")
                services.rename_conversation(user=user, conversation_id=kept.id, title="Not kept")
                raise RuntimeError

        with pytest.raises(RuntimeError):
            write_then_fail()
        services.rename_conversation(user=user, conversation_id=kept.id, title="Committed")
        # The first event is the committed rename: nothing of the rolled-back write came.
        event = stream.next_event()
        assert (event.kind, event.data["title"]) == ("conversation", "Committed")


def test_another_users_stream_hears_nothing_of_it(server, user, other_user, token_for, writer):
    with open_stream(server, token_for(other_user)) as stream:
        created = writer.post("/api/v1/conversations/", json={"title": "Mine"}).json()
        writer.post(
            f"/api/v1/conversations/{created['id']}/messages/",
            json={"role": "user", "content": "private"},
        )
        services.create_conversation(user=other_user, title="Theirs")
        # Their own change arrives, and it is the first thing that does.
        event = stream.next_event()
        assert (event.kind, event.data["title"]) == ("conversation", "Theirs")


def test_reconnecting_with_last_event_id_gets_exactly_what_was_missed(server, user, token_for):
    token = token_for(user)
    first = services.create_conversation(user=user, title="Start")
    with open_stream(server, token) as stream:
        services.rename_conversation(user=user, conversation_id=first.id, title="Seen")
        assert stream.next_event().data["title"] == "Seen"
        last_id = stream.last_id
    # Offline: 50 changes it does not hear.
    missed = [services.create_conversation(user=user, title=f"Missed {n}") for n in range(50)]
    with open_stream(server, token, **{"Last-Event-ID": last_id}) as stream:
        caught_up = [stream.next_event().data["id"] for _ in range(50)]
        assert caught_up == [str(conversation.id) for conversation in missed]
        # …and then the live feed, with nothing repeated in between.
        services.rename_conversation(user=user, conversation_id=first.id, title="Live")
        assert stream.next_event().data["title"] == "Live"


def test_a_conversation_changed_many_times_while_away_arrives_once_as_it_is_now(
    server, user, token_for
):
    token = token_for(user)
    conversation = services.create_conversation(user=user, title="Start")
    with open_stream(server, token) as stream:
        last_id = stream.last_id
    for number in range(50):
        services.rename_conversation(
            user=user, conversation_id=conversation.id, title=f"Title {number}"
        )
    other = services.create_conversation(user=user, title="Other")
    with open_stream(server, token, **{"Last-Event-ID": last_id}) as stream:
        # Events carry state, as sync does: the 50 renames are one event, the latest.
        assert stream.next_event().data["title"] == "Title 49"
        assert stream.next_event().data["id"] == str(other.id)


def test_since_resumes_like_last_event_id_and_the_header_wins(server, user, token_for):
    token = token_for(user)
    conversation = services.create_conversation(user=user, title="A")
    since = cursors.sync_token(position=0)
    with EventReader(
        url=f"{server.url}{EVENTS}?since={since}", headers=bearer(token)
    ) as from_query:
        from_query.next()
        assert from_query.next_event().data["id"] == str(conversation.id)
    with open_stream(server, token) as stream:
        now = stream.last_id
    with EventReader(
        url=f"{server.url}{EVENTS}?since={since}",
        headers={**bearer(token), "Last-Event-ID": now},
    ) as both:
        both.next()
        services.rename_conversation(user=user, conversation_id=conversation.id, title="B")
        assert both.next_event().data["title"] == "B"  # not the old creation from ?since


def test_a_long_write_of_messages_arrives_in_pages_each_once(server, user, token_for, settings):
    settings.NUMINA_SYNC_PAGE_SIZE = 10  # one write, several pages of the change stream
    conversation = services.create_conversation(user=user)
    with open_stream(server, token_for(user)) as stream:
        services.add_messages(
            user=user,
            conversation_id=conversation.id,
            messages=[services.NewMessage(role="user", content=f"m{n}") for n in range(35)],
        )
        assert stream.next_event().kind == "conversation"
        contents = [stream.next_event().data["content"] for _ in range(35)]
        assert contents == [f"m{n}" for n in range(35)]
        services.rename_conversation(user=user, conversation_id=conversation.id, title="Next")
        assert stream.next_event().data["title"] == "Next"


def test_the_session_of_a_signed_in_browser_opens_it(server, user, client):
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value}
    with EventReader(url=f"{server.url}{EVENTS}", cookies=cookies) as stream:
        assert stream.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-cache, no-store"
        stream.next()
        services.create_conversation(user=user, title="From the browser's user")
        assert stream.next_event().data["title"] == "From the browser's user"


def test_heartbeat_comments_and_a_revoked_token_ends_the_stream(server, user, token_for, settings):
    settings.NUMINA_EVENTS_HEARTBEAT_SECONDS = 0.2
    token = token_for(user)
    with open_stream(server, token) as stream:
        assert stream.next(comments=True).kind == "comment"
        with httpx.Client(base_url=server.url, headers=bearer(token)) as phone:
            assert phone.post("/api/v1/auth/logout/").status_code == 204

        def read_to_the_end() -> None:
            while True:
                stream.next(comments=True)

        with pytest.raises(StreamClosed):
            read_to_the_end()


def test_without_redis_the_stream_works_within_the_one_process(server, user, token_for, settings):
    settings.REDIS_URL = ""  # the embedded default: notices go straight to this process
    with open_stream(server, token_for(user)) as stream:
        services.create_conversation(user=user, title="In process")
        assert stream.next_event().data["title"] == "In process"


def test_a_closed_stream_releases_its_listener(server, user, token_for):
    with open_stream(server, token_for(user)):
        wait_until(lambda: live.hub.open_streams(owner_id=user.pk) == 1)
    wait_until(lambda: live.hub.open_streams(owner_id=user.pk) == 0)


def test_one_user_may_hold_only_so_many_streams(server, user, token_for, settings):
    settings.NUMINA_EVENTS_MAX_STREAMS_PER_USER = 2
    token = token_for(user)
    with open_stream(server, token), open_stream(server, token):
        wait_until(lambda: live.hub.open_streams(owner_id=user.pk) == 2)
        refused = httpx.get(f"{server.url}{EVENTS}", headers=bearer(token))
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_event_streams"
        assert refused.headers["Retry-After"]


@pytest.mark.parametrize(
    ("header", "query", "field"),
    [
        ("garbage!", None, "Last-Event-ID"),
        (None, "garbage!", "since"),
        (cursors.sync_token(position=10**6), None, "Last-Event-ID"),  # ahead of the account
        (None, cursors.sync_token(position=cursors.MAX_CHANGE_NUMBER), "since"),
    ],
)
def test_a_bad_last_event_id_or_since_is_a_400(server, user, token_for, header, query, field):
    headers = bearer(token_for(user)) | ({"Last-Event-ID": header} if header else {})
    answer = httpx.get(
        f"{server.url}{EVENTS}", headers=headers, params={"since": query} if query else {}
    )
    assert answer.status_code == 400
    assert field in answer.json()


def test_no_credentials_or_a_bad_token_is_a_401_and_other_methods_a_405(server, user, token_for):
    asked_for_events = httpx.get(f"{server.url}{EVENTS}", headers={"Accept": "text/event-stream"})
    assert asked_for_events.status_code == 401  # the API's JSON, not a 406
    assert asked_for_events.json()["code"] == "not_authenticated"
    assert httpx.get(f"{server.url}{EVENTS}").status_code == 401
    assert httpx.get(f"{server.url}{EVENTS}", headers=bearer("nope")).status_code == 401
    token = token_for(user)
    assert httpx.post(f"{server.url}{EVENTS}", headers=bearer(token)).status_code == 405
    head = httpx.head(f"{server.url}{EVENTS}", headers=bearer(token))
    assert head.status_code == 200
    assert head.headers["content-type"].startswith("text/event-stream")


def test_a_malformed_notice_on_the_channel_is_ignored(server, user, token_for):
    from django_redis import get_redis_connection

    with open_stream(server, token_for(user)) as stream:
        get_redis_connection("default").publish(live.CHANNEL, b"\xff not a notice")
        get_redis_connection("default").publish(live.CHANNEL, f"{uuid.uuid4()}:x")
        services.create_conversation(user=user, title="After the noise")
        assert stream.next_event().data["title"] == "After the noise"
