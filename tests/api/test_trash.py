"""The trash (API.md, "Conversation"): DELETE moves a conversation there, where it
answers 404 everywhere but the trash list, restore and a permanent delete; sync reports
it deleted, then changed again once restored; the beat task empties old trash."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services, tasks
from conversations.models import (
    Conversation,
    DeletedConversation,
    Message,
    MessageBatch,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/conversations/"
TRASH = "/api/v1/trash/"
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def detail(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/"


def restore_url(conversation_id) -> str:
    return f"/api/v1/trash/{conversation_id}/restore/"


def chat(user, title="kept", contents=("hello", "world"), **kwargs) -> Conversation:
    conversation = services.create_conversation(user=user, title=title, **kwargs)
    for content in contents:
        services.add_message(
            user=user, conversation_id=conversation.id, role="user", content=content
        )
    conversation.refresh_from_db()
    return conversation


def follow(api, *, since=None, include_messages=False) -> dict:
    """Sync from ``since`` to the end: every conversation, deletion and message seen."""
    seen: dict = {"conversations": [], "deleted": [], "messages": []}
    while True:
        params = {"page_size": 100}
        if since:
            params["since"] = since
        if include_messages:
            params["include"] = "messages"
        body = api.get("/api/v1/sync/", params).json()
        seen["conversations"] += [c["id"] for c in body["conversations"]]
        seen["deleted"] += body["deleted"]
        seen["messages"] += [m["id"] for m in body.get("messages", [])]
        since = body["next_since"]
        if not body["has_more"]:
            seen["since"] = since
            return seen


# --- DELETE, restore, permanent ----------------------------------------------------------


def test_delete_keeps_the_row_and_its_messages_and_restore_puts_it_back_where_it_was(api, user):
    conversation = chat(user, tags=["t"], is_pinned=True)
    services.archive_conversation(user=user, conversation_id=conversation.id)
    conversation.refresh_from_db()
    before = api.get(detail(conversation.id), {"messages": 10}).json()

    assert api.delete(detail(conversation.id)).status_code == 204
    trashed = Conversation.objects.get(id=conversation.id)
    assert trashed.trashed_at is not None
    assert Message.objects.filter(conversation=conversation).count() == 2

    response = api.post(restore_url(conversation.id))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(conversation.id)
    assert "trashed_at" not in body
    after = api.get(detail(conversation.id), {"messages": 10}).json()
    # Back where it was: same activity, pin, archive, tags, messages; only updated_at moves.
    for key in ("last_activity_at", "is_pinned", "is_archived", "tags", "messages", "title"):
        assert after[key] == before[key], key
    assert after["updated_at"] > before["updated_at"]
    assert not DeletedConversation.objects.filter(conversation_id=conversation.id).exists()


def test_permanent_true_deletes_for_good_at_once(api, user):
    conversation = chat(user)
    response = api.delete(detail(conversation.id) + "?permanent=true")
    assert response.status_code == 204
    assert not Conversation.objects.filter(id=conversation.id).exists()
    assert not Message.objects.filter(conversation_id=conversation.id).exists()
    assert api.post(restore_url(conversation.id)).status_code == 404
    assert [c["id"] for c in api.get(TRASH).json()["results"]] == []
    assert str(conversation.id) in follow(api)["deleted"]


def test_permanent_false_trashes_and_a_bad_value_is_a_400_that_changes_nothing(api, user):
    conversation = chat(user)
    response = api.delete(detail(conversation.id) + "?permanent=perhaps")
    assert response.status_code == 400
    assert "permanent" in response.json()
    assert Conversation.objects.get(id=conversation.id).trashed_at is None
    assert api.delete(detail(conversation.id) + "?permanent=false").status_code == 204
    assert Conversation.objects.get(id=conversation.id).trashed_at is not None


def test_delete_of_one_in_the_trash_deletes_it_for_good_without_a_new_change(api, user):
    conversation = chat(user)
    api.delete(detail(conversation.id))
    seen = follow(api)
    assert api.delete(detail(conversation.id)).status_code == 204
    assert not Conversation.objects.filter(id=conversation.id).exists()
    # Already reported deleted: nothing new for clients; the tombstone stays.
    assert follow(api, since=seen["since"]) == {
        **seen,
        "conversations": [],
        "deleted": [],
        "messages": [],
    }
    assert DeletedConversation.objects.filter(conversation_id=conversation.id).count() == 1
    assert api.delete(detail(conversation.id)).status_code == 404


def test_restore_of_one_not_in_the_trash_is_404(api, user):
    conversation = chat(user)
    assert api.post(restore_url(conversation.id)).json() == NOT_FOUND
    assert api.post(restore_url(uuid.uuid4())).status_code == 404
    assert api.post("/api/v1/trash/not-a-uuid/restore/").status_code == 404
    api.delete(detail(conversation.id))
    assert api.post(restore_url(conversation.id)).status_code == 200
    # Restored already: a second restore finds nothing in the trash.
    assert api.post(restore_url(conversation.id)).status_code == 404


def test_restore_is_post_only(api, user):
    conversation = chat(user)
    api.delete(detail(conversation.id))
    assert api.get(restore_url(conversation.id)).status_code == 405
    assert Conversation.objects.get(id=conversation.id).trashed_at is not None


# --- every other request for it is 404 ---------------------------------------------------

BODY = {"title": "back?", "is_archived": True, "role": "user", "content": "hi", "tags": ["x"]}
ENDPOINTS = [
    ("get", "/api/v1/conversations/{id}/"),
    ("patch", "/api/v1/conversations/{id}/"),
    ("get", "/api/v1/conversations/{id}/messages/"),
    ("get", "/api/v1/conversations/{id}/messages/?thread=current"),
    ("post", "/api/v1/conversations/{id}/messages/"),
    ("get", "/api/v1/conversations/{id}/export/"),
    ("get", "/api/v1/conversations/{id}/export/?format=markdown"),
    ("get", "/api/v1/conversations/{id}/context/"),
]


def _snapshot(conversation_id) -> tuple:
    return (
        Conversation.objects.filter(id=conversation_id).values().first(),
        list(Message.objects.filter(conversation_id=conversation_id).values()),
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_a_trashed_conversation_is_the_same_404_as_a_random_id(api, user, method, path):
    conversation = chat(user)
    services.delete_conversation(user=user, conversation_id=conversation.id)
    before = _snapshot(conversation.id)
    call = getattr(api, method)
    args = (BODY,) if method in {"post", "patch"} else ()
    trashed = call(path.format(id=conversation.id), *args, format="json")
    random = call(path.format(id=uuid.uuid4()), *args, format="json")
    assert trashed.status_code == random.status_code == 404
    assert trashed.json() == random.json() == NOT_FOUND
    assert _snapshot(conversation.id) == before


def test_chat_regenerate_and_the_offline_queue_cannot_reach_a_trashed_conversation(api, user):
    conversation = chat(user)
    reply = services.add_message(
        user=user, conversation_id=conversation.id, role="assistant", content="reply"
    ).message
    services.delete_conversation(user=user, conversation_id=conversation.id)
    before = _snapshot(conversation.id)

    response = api.post(
        "/api/v1/chat/", {"message": "hi", "conversation_id": str(conversation.id)}, format="json"
    )
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    response = api.post("/api/v1/chat/regenerate/", {"message_id": str(reply.id)}, format="json")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    operations = [
        {
            "op": "add_message",
            "conversation_id": str(conversation.id),
            "role": "user",
            "content": "x",
        },
        {"op": "update_conversation", "conversation_id": str(conversation.id), "title": "back?"},
        # The queue's delete is a trash: replayed, it leaves it in the trash.
        {"op": "delete_conversation", "conversation_id": str(conversation.id)},
    ]
    results = api.post("/api/v1/batch/", {"operations": operations}, format="json").json()
    assert [r["status"] for r in results["results"]] == [404, 404, 204]
    assert _snapshot(conversation.id) == before


def test_a_trashed_conversation_leaves_lists_search_and_the_client_id_stays_reserved(api, user):
    client_id = uuid.uuid4()
    trashed = chat(user, title="needle chat", contents=["a needle here"], client_id=client_id)
    kept = chat(user, title="other", contents=["another needle"])
    services.delete_conversation(user=user, conversation_id=trashed.id)

    for params in ({}, {"archived": "all"}, {"q": "needle"}, {"pinned": "false"}):
        ids = [c["id"] for c in api.get(LIST, params).json()["results"]]
        assert ids == [str(kept.id)], params
    hits = api.get("/api/v1/search/", {"q": "needle"}).json()["results"]
    assert {h["conversation_id"] for h in hits} == {str(kept.id)}
    # A replayed offline create: the deleted conversation is not made again.
    response = api.post(LIST, {"title": "again", "client_id": str(client_id)}, format="json")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert Conversation.objects.filter(owner=user).count() == 2

    api.post(restore_url(trashed.id))
    hits = api.get("/api/v1/search/", {"q": "needle"}).json()["results"]
    assert {h["conversation_id"] for h in hits} == {str(kept.id), str(trashed.id)}
    # Restored: the client_id answers the conversation again.
    response = api.post(LIST, {"title": "again", "client_id": str(client_id)}, format="json")
    assert (response.status_code, response.json()["id"]) == (200, str(trashed.id))


# --- another user's ----------------------------------------------------------------------


def test_another_users_trash_is_the_same_404_everywhere(api, user, other_user):
    theirs = chat(other_user, title="theirs")
    services.delete_conversation(user=other_user, conversation_id=theirs.id)
    their_live = chat(other_user, title="their live one")
    before = (_snapshot(theirs.id), _snapshot(their_live.id))

    assert api.get(TRASH).json()["results"] == []
    for conversation_id in (theirs.id, their_live.id):
        response = api.post(restore_url(conversation_id))
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
        for query in ("", "?permanent=true"):
            response = api.delete(detail(conversation_id) + query)
            assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert (_snapshot(theirs.id), _snapshot(their_live.id)) == before
    assert str(theirs.id) not in follow(api)["deleted"]


# --- the trash list ----------------------------------------------------------------------


def test_the_trash_lists_newest_trashed_first_with_when_it_is_emptied(api, user, settings):
    settings.NUMINA_TRASH_DAYS = 7
    first, second, live = chat(user, "first"), chat(user, "second"), chat(user, "live")
    services.delete_conversation(user=user, conversation_id=second.id)
    services.delete_conversation(user=user, conversation_id=first.id)

    body = api.get(TRASH).json()
    assert set(body) == {"next", "previous", "results"}
    assert [c["id"] for c in body["results"]] == [str(first.id), str(second.id)]
    item = body["results"][0]
    trashed_at = Conversation.objects.get(id=first.id).trashed_at
    assert item["trashed_at"] == trashed_at.isoformat().replace("+00:00", "Z")
    assert item["purge_at"] == (trashed_at + timedelta(days=7)).isoformat().replace("+00:00", "Z")
    assert item["title"] == "first"
    assert item["message_count"] == 2
    assert str(live.id) not in {c["id"] for c in body["results"]}


def test_the_trash_pages_with_a_cursor_without_repeat_or_loss(api, user):
    conversations = [chat(user, f"c{n}", contents=[]) for n in range(7)]
    for conversation in conversations:
        services.delete_conversation(user=user, conversation_id=conversation.id)
    seen: list[str] = []
    url = f"{TRASH}?page_size=3"
    pages = 0
    while url:
        body = api.get(url).json()
        seen += [c["id"] for c in body["results"]]
        url = body["next"]
        pages += 1
    assert pages == 3
    assert seen == [str(c.id) for c in reversed(conversations)]


@pytest.mark.parametrize(
    ("query", "field"), [("?page_size=0", None), ("?cursor=garbage", "cursor")]
)
def test_the_trash_refuses_a_bad_cursor_and_bounds_page_size(api, user, query, field):
    for n in range(3):
        services.delete_conversation(user=user, conversation_id=chat(user, f"c{n}").id)
    response = api.get(TRASH + query)
    if field is None:
        # DRF's page_size rule: an unusable size falls back to the default.
        assert response.status_code == 200
        assert len(response.json()["results"]) == 3
    else:
        assert response.status_code == 400
        assert field in response.json()


def test_the_trash_page_size_is_at_most_100(api, user, settings):
    settings.NUMINA_MAX_PAGE_SIZE = 2
    for n in range(3):
        services.delete_conversation(user=user, conversation_id=chat(user, f"c{n}").id)
    assert len(api.get(TRASH + "?page_size=1000").json()["results"]) == 2


def test_the_trash_list_runs_a_fixed_number_of_queries(api, user, django_assert_max_num_queries):
    def fill(count: int) -> None:
        for n in range(count):
            conversation = chat(user, f"c{n}", tags=["a", "b"])
            services.delete_conversation(user=user, conversation_id=conversation.id)

    fill(2)
    with django_assert_max_num_queries(4) as few:
        assert len(api.get(TRASH).json()["results"]) == 2
    fill(18)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(TRASH).json()["results"]) == 20


def test_the_trash_needs_authentication(anon_api):
    assert anon_api.get(TRASH).status_code == 401
    assert anon_api.post(restore_url(uuid.uuid4())).status_code == 401


# --- sync --------------------------------------------------------------------------------


def test_sync_reports_a_trash_as_a_deletion_and_a_restore_as_a_change(api, user):
    conversation = chat(user)
    start = follow(api)
    assert start["conversations"] == [str(conversation.id)]

    services.delete_conversation(user=user, conversation_id=conversation.id)
    after_trash = follow(api, since=start["since"])
    assert (after_trash["conversations"], after_trash["deleted"]) == ([], [str(conversation.id)])

    api.post(restore_url(conversation.id))
    after_restore = follow(api, since=after_trash["since"])
    assert (after_restore["conversations"], after_restore["deleted"]) == (
        [str(conversation.id)],
        [],
    )
    # From the beginning: the conversation once, and no deletion.
    whole = follow(api)
    assert (whole["conversations"], whole["deleted"]) == ([str(conversation.id)], [])


def test_sync_with_messages_carries_a_restored_conversations_messages_again_once(api, user):
    conversation = chat(user, contents=["one", "two", "three"])
    stored = {str(m.id) for m in Message.objects.filter(conversation=conversation)}
    start = follow(api, include_messages=True)
    assert set(start["messages"]) == stored

    services.delete_conversation(user=user, conversation_id=conversation.id)
    gone = follow(api, since=start["since"], include_messages=True)
    assert gone["messages"] == []
    assert gone["deleted"] == [str(conversation.id)]

    services.restore_conversation(user=user, conversation_id=conversation.id)
    back = follow(api, since=gone["since"], include_messages=True)
    assert back["conversations"] == [str(conversation.id)]
    assert sorted(back["messages"]) == sorted(stored)
    # A client from scratch gets each message exactly once.
    whole = follow(api, include_messages=True)
    assert sorted(whole["messages"]) == sorted(stored)
    assert MessageBatch.objects.filter(conversation=conversation).count() == 1


def test_a_trashed_conversation_s_messages_are_left_out_of_sync(api, user):
    conversation = chat(user, contents=["secret"])
    services.delete_conversation(user=user, conversation_id=conversation.id)
    whole = follow(api, include_messages=True)
    assert (whole["conversations"], whole["messages"]) == ([], [])
    assert whole["deleted"] == [str(conversation.id)]


# --- emptying the trash ------------------------------------------------------------------


def _trashed_days_ago(user, days: float, title: str) -> Conversation:
    conversation = chat(user, title)
    services.delete_conversation(user=user, conversation_id=conversation.id)
    Conversation.objects.filter(id=conversation.id).update(
        trashed_at=timezone.now() - timedelta(days=days)
    )
    return conversation


def test_the_task_empties_what_is_older_than_the_trash_days_only(user, other_user, settings):
    settings.NUMINA_TRASH_DAYS = 30
    old = _trashed_days_ago(user, 31, "old")
    theirs_old = _trashed_days_ago(other_user, 40, "theirs old")
    recent = _trashed_days_ago(user, 29, "recent")
    live = chat(user, "live")
    Conversation.objects.filter(id=live.id).update(
        last_activity_at=timezone.now() - timedelta(days=90)
    )

    assert tasks.empty_trash() == 2
    assert set(Conversation.objects.values_list("id", flat=True)) == {recent.id, live.id}
    assert not Message.objects.filter(conversation_id__in=[old.id, theirs_old.id]).exists()
    # The tombstones stay: clients were told, and the client_ids stay reserved.
    assert DeletedConversation.objects.filter(conversation_id=old.id).exists()
    # Idempotent: a second run finds nothing more.
    assert tasks.empty_trash() == 0


def test_the_task_works_in_bounded_batches_and_stops_after_its_last(user, settings):
    settings.NUMINA_TRASH_PURGE_BATCH = 2
    settings.NUMINA_TRASH_PURGE_MAX_BATCHES = 2
    for n in range(5):
        _trashed_days_ago(user, 31 + n, f"old {n}")
    assert tasks.empty_trash() == 4  # two batches of two; the oldest go first
    assert list(Conversation.objects.values_list("title", flat=True)) == ["old 0"]
    assert tasks.empty_trash() == 1


def test_one_batch_is_a_fixed_number_of_queries(user, django_assert_max_num_queries):
    for n in range(2):
        _trashed_days_ago(user, 40, f"a{n}")
    with django_assert_max_num_queries(20) as few:
        services.empty_trash(trashed_before=timezone.now(), limit=100)
    for n in range(10):
        _trashed_days_ago(user, 40, f"b{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert services.empty_trash(trashed_before=timezone.now(), limit=100) == 10


def test_the_beat_schedule_runs_the_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["empty-trash"]
    assert entry["task"] == tasks.empty_trash.name
