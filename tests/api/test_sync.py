import threading

import pytest
from django.db import connection

from conversations import services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SYNC = "/api/v1/sync/"


def follow(api, since=None, page_size=None) -> tuple[list[dict], list[str], str]:
    """Walk sync to the end like a client: (conversation states, deleted ids, last token)."""
    seen, deleted = [], []
    while True:
        params = {
            k: v for k, v in {"since": since, "page_size": page_size}.items() if v is not None
        }
        body = api.get(SYNC, params).json()
        seen += body["conversations"]
        deleted += body["deleted"]
        since = body["next_since"]
        if not body["has_more"]:
            return seen, deleted, since


def test_sync_from_the_beginning_holds_every_conversation_archived_too(api, user):
    ids = {str(services.create_conversation(user=user).id) for _ in range(5)}
    archived = services.create_conversation(user=user)
    services.archive_conversation(user=user, conversation_id=archived.id)
    seen, deleted, _ = follow(api, page_size=2)
    assert {c["id"] for c in seen} == ids | {str(archived.id)}
    assert len(seen) == 6
    assert deleted == []


def test_sync_reports_each_change_exactly_once_across_deletes_and_archives(api, user):
    keep = services.create_conversation(user=user, title="keep")
    gone = services.create_conversation(user=user, title="gone")
    seen, _, since = follow(api)
    assert len(seen) == 2

    services.archive_conversation(user=user, conversation_id=keep.id)
    services.delete_conversation(user=user, conversation_id=gone.id)
    fresh = services.create_conversation(user=user, title="fresh")
    seen, deleted, since = follow(api, since=since, page_size=1)
    assert [c["id"] for c in seen] == [str(keep.id), str(fresh.id)]
    assert seen[0]["is_archived"] is True
    assert deleted == [str(gone.id)]

    seen, deleted, _ = follow(api, since=since)
    assert (seen, deleted) == ([], [])


def test_changes_made_between_pages_are_seen_once_in_their_latest_state(api, user):
    conversations = [services.create_conversation(user=user, title=f"c{n}") for n in range(6)]
    first = api.get(SYNC, {"page_size": 3}).json()
    services.rename_conversation(
        user=user, conversation_id=conversations[0].id, title="renamed"
    )  # already seen
    services.rename_conversation(
        user=user, conversation_id=conversations[5].id, title="renamed too"
    )  # not yet seen
    rest, _, _ = follow(api, since=first["next_since"], page_size=3)
    ids = [c["id"] for c in rest]
    assert len(ids) == len(set(ids))
    assert {c["title"] for c in rest} == {"c3", "c4", "renamed too", "renamed"}


def test_many_conversations_sharing_one_timestamp_are_each_seen_once(api, user):
    from django.utils import timezone

    for _ in range(30):
        services.create_conversation(user=user)
    from conversations.models import Conversation

    Conversation.objects.filter(owner=user).update(updated_at=timezone.now())
    seen, _, _ = follow(api, page_size=7)
    assert len(seen) == len({c["id"] for c in seen}) == 30


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_make_a_client_miss_a_change():
    from rest_framework.test import APIClient

    from accounts.services import issue_token

    user = UserFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user)[0]}")
    created: list[str] = []
    lock = threading.Lock()

    def writer() -> None:
        try:
            for _ in range(10):
                conversation = services.create_conversation(user=user)
                with lock:
                    created.append(str(conversation.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    seen: set[str] = set()
    since = None
    while any(t.is_alive() for t in threads):
        states, _, since = follow(client, since=since, page_size=3)
        seen |= {c["id"] for c in states}
    for thread in threads:
        thread.join()
    states, _, since = follow(client, since=since)
    seen |= {c["id"] for c in states}
    assert seen == set(created)


def test_sync_never_shows_another_users_changes(api, other_user):
    services.create_conversation(user=other_user)
    theirs = services.create_conversation(user=other_user)
    services.delete_conversation(user=other_user, conversation_id=theirs.id)
    assert follow(api)[:2] == ([], [])


@pytest.mark.parametrize("since", ["garbage", "djE6eA", "!!!", "dj06MQ"])
def test_sync_refuses_a_token_it_did_not_make(api, since):
    response = api.get(SYNC, {"since": since})
    assert response.status_code == 400
    assert "since" in response.json()


def test_sync_query_count_is_constant(api, user, django_assert_num_queries):
    services.create_conversation(user=user, tags=["a"])
    # The token with its user, the newest change number (the page's bound), conversations
    # with tags, deletions.
    with django_assert_num_queries(4):
        api.get(SYNC)
    for n in range(40):
        services.create_conversation(user=user, tags=["a", f"t{n}"])
    with django_assert_num_queries(4):
        api.get(SYNC)


@pytest.mark.django_db(transaction=True)
def test_changes_committed_between_a_pages_reads_are_not_skipped():
    """A rename and a deletion commit after the page read the conversations and before it
    reads the deletions: the page must not take the deletion and skip the rename."""
    from conversations import selectors

    user = UserFactory()
    renamed = services.create_conversation(user=user, title="before")
    deleted = services.create_conversation(user=user)
    since = selectors.sync_changes(user=user, since=0, limit=100).next_since
    services.create_conversation(user=user, title="third")  # a page with something to read
    wrote: list[bool] = []

    def write() -> None:
        try:
            services.rename_conversation(user=user, conversation_id=renamed.id, title="after")
            services.delete_conversation(user=user, conversation_id=deleted.id)
        finally:
            connection.close()

    def between_reads(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if '"conversations_conversation"' in sql and not wrote:
            wrote.append(True)
            writer = threading.Thread(target=write)
            writer.start()
            writer.join()
        return result

    with connection.execute_wrapper(between_reads):
        page = selectors.sync_changes(user=user, since=since, limit=100)
    assert wrote
    seen = [c.title for c in page.conversations]
    deletions = list(page.deleted)
    while True:
        page = selectors.sync_changes(user=user, since=page.next_since, limit=100)
        seen += [c.title for c in page.conversations]
        deletions += page.deleted
        if not page.has_more:
            break
    assert seen == ["third", "after"]
    assert deletions == [deleted.id]
