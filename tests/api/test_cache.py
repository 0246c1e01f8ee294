"""Recent conversations from Redis: fresh after every kind of write, never shared between
users, and correct (from PostgreSQL) while Redis is unreachable.

Transactional tests: writes really commit, so invalidation runs after commit as in
production."""

import io
import json
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.services import issue_token
from conversations import cache as numina_cache
from conversations import services
from conversations.models import PendingInvalidation
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/api/v1/conversations/"
CLOSED_PORT_CACHE = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def detail(conversation_id) -> str:
    return f"/api/v1/conversations/{conversation_id}/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user=user)[0]}")
    return client


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def api(owner):
    return client_for(owner)


@pytest.fixture
def conversation(owner):
    conversation = services.create_conversation(user=owner, title="Cached", tags=["t"])
    services.add_message(user=owner, conversation_id=conversation.id, role="user", content="hello")
    return conversation


def queries_of(call) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, [q["sql"] for q in captured.captured_queries]


def auth_only(sqls: list[str]) -> bool:
    return all("knox_authtoken" in sql or "accounts_user" in sql for sql in sqls)


def test_second_read_of_the_list_runs_no_query_beyond_authentication(api, conversation):
    first = api.get(LIST)
    second, sqls = queries_of(lambda: api.get(LIST))
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert second.json() == first.json()
    assert auth_only(sqls)
    assert len(sqls) == 1


def test_second_read_of_a_conversation_runs_no_query_beyond_authentication(api, conversation):
    first = api.get(detail(conversation.id))
    second, sqls = queries_of(lambda: api.get(detail(conversation.id)))
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert second.json() == first.json()
    assert auth_only(sqls)
    assert len(sqls) == 1


def test_a_cached_read_runs_zero_queries(owner, conversation):
    def build():
        raise AssertionError("a hit must not build")

    numina_cache.cached(kind="test", scope="s", build=lambda: (1, {"v": 1}))
    value, sqls = queries_of(lambda: numina_cache.cached(kind="test", scope="s", build=build))
    assert value == ({"v": 1}, True)
    assert sqls == []


def test_non_default_reads_are_not_cached(api, conversation):
    assert "X-Cache" not in api.get(LIST, {"archived": "true"})
    assert "X-Cache" not in api.get(LIST, {"page_size": 5})
    assert "X-Cache" not in api.get(detail(conversation.id), {"messages": 3})
    assert "X-Cache" not in api.get(detail(conversation.id), {"messages": 50})


WRITES = {
    "new message": lambda api, c: api.post(
        f"{detail(c.id)}messages/", {"role": "user", "content": "new"}, format="json"
    ),
    "rename": lambda api, c: api.patch(detail(c.id), {"title": "Renamed"}, format="json"),
    "archive": lambda api, c: api.patch(detail(c.id), {"is_archived": True}, format="json"),
    "pin": lambda api, c: api.patch(detail(c.id), {"is_pinned": True}, format="json"),
    "tags": lambda api, c: api.patch(detail(c.id), {"tags": ["other"]}, format="json"),
    "new conversation": lambda api, c: api.post(LIST, {"title": "Another"}, format="json"),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_each_api_write_makes_the_next_reads_fresh(api, conversation, write):
    api.get(LIST), api.get(detail(conversation.id))  # warm both
    assert write(api, conversation).status_code in {200, 201}
    fresh_list = api.get(LIST)
    fresh_detail = api.get(detail(conversation.id))
    assert fresh_list["X-Cache"] == "miss"  # the detail may stay a hit: another chat changed
    uncached_list = api.get(LIST, {"archived": "false", "page_size": 20}).json()
    assert fresh_list.json()["results"] == uncached_list["results"]
    assert fresh_detail.json() == api.get(detail(conversation.id), {"messages": 50}).json()


def test_delete_makes_the_cached_conversation_a_404(api, conversation):
    api.get(LIST), api.get(detail(conversation.id))
    assert api.delete(detail(conversation.id)).status_code == 204
    assert api.get(detail(conversation.id)).status_code == 404
    assert api.get(LIST).json()["results"] == []


def test_import_makes_the_list_fresh(api, conversation):
    api.get(LIST)
    document = json.loads(b"".join(api.get(f"{detail(conversation.id)}export/").streaming_content))
    assert api.post("/api/v1/conversations/import/", document, format="json").status_code == 201
    assert len(api.get(LIST).json()["results"]) == 2


def test_a_service_write_as_the_browser_ui_makes_it_fresh(api, owner, conversation):
    api.get(detail(conversation.id))
    services.rename_conversation(user=owner, conversation_id=conversation.id, title="From the UI")
    assert api.get(detail(conversation.id)).json()["title"] == "From the UI"


def test_the_migration_command_makes_the_list_fresh(api, owner, settings):
    import redis

    # A database number of its own on the test Redis, apart from the cache's.
    legacy_url = settings.REDIS_URL.rsplit("/", 1)[0] + "/12"
    legacy = redis.Redis.from_url(legacy_url)
    legacy.flushdb()
    legacy.set(
        "conversation:cache-test",
        json.dumps(
            {
                "sessionId": "cache-test",
                "messages": [
                    {
                        "role": "user",
                        "content": "from the old memory",
                        "timestamp": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        ),
    )
    api.get(LIST)
    call_command(
        "migrate_conversations",
        "--redis-url",
        legacy_url,
        "--user",
        owner.username,
        stdout=io.StringIO(),
    )
    legacy.flushdb()
    assert [c["preview"] for c in api.get(LIST).json()["results"]] == ["from the old memory"]


def test_two_users_never_share_an_entry(owner, conversation):
    other = UserFactory()
    mine, theirs = client_for(owner), client_for(other)
    mine.get(LIST), mine.get(detail(conversation.id))
    assert theirs.get(LIST).json()["results"] == []
    assert theirs.get(detail(conversation.id)).status_code == 404
    assert mine.get(detail(conversation.id))["X-Cache"] == "hit"


def test_with_redis_unreachable_every_endpoint_answers_from_postgresql(
    api, owner, conversation, settings
):
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": CLOSED_PORT_CACHE},
    }
    assert api.get(LIST).json()["results"][0]["id"] == str(conversation.id)
    assert api.get(detail(conversation.id)).json()["messages"][0]["content"] == "hello"
    created = api.post(
        f"{detail(conversation.id)}messages/",
        {"role": "user", "content": "while down"},
        format="json",
    )
    assert created.status_code == 201
    assert (
        api.patch(detail(conversation.id), {"title": "Down"}, format="json").json()["title"]
        == "Down"
    )
    assert api.get(detail(conversation.id)).json()["title"] == "Down"
    assert [
        m["content"] for m in api.get(f"{detail(conversation.id)}messages/").json()["results"]
    ] == ["hello", "while down"]
    assert api.get("/api/v1/search/", {"q": "hello"}).status_code == 200
    assert api.get("/api/v1/sync/").status_code == 200
    new = api.post(LIST, {"title": "made while down"}, format="json")
    assert new.status_code == 201
    assert api.delete(detail(new.json()["id"])).status_code == 204


def test_a_rename_during_an_outage_is_visible_once_redis_is_back(
    api, owner, conversation, settings, monkeypatch
):
    monkeypatch.setattr(numina_cache.breaker, "RETRY_SECONDS", 0.05)
    api.get(LIST), api.get(detail(conversation.id))  # stale-to-be entries in the real Redis
    working = settings.CACHES
    settings.CACHES = {**working, "default": {**working["default"], "LOCATION": CLOSED_PORT_CACHE}}
    api.patch(detail(conversation.id), {"title": "Renamed in the dark"}, format="json")
    assert PendingInvalidation.objects.count() == 1
    settings.CACHES = working
    time.sleep(0.1)
    assert api.get(detail(conversation.id)).json()["title"] == "Renamed in the dark"
    assert api.get(LIST).json()["results"][0]["title"] == "Renamed in the dark"
    assert PendingInvalidation.objects.count() == 0


def test_pending_invalidations_are_replayed_for_processes_that_never_noticed(
    api, owner, conversation, settings
):
    api.get(detail(conversation.id))
    working = settings.CACHES
    settings.CACHES = {**working, "default": {**working["default"], "LOCATION": CLOSED_PORT_CACHE}}
    services.rename_conversation(user=owner, conversation_id=conversation.id, title="Lost")
    settings.CACHES = working
    numina_cache.breaker.open = False  # another process: it never saw Redis fail
    assert numina_cache.replay_pending() is True  # what the periodic task runs
    assert api.get(detail(conversation.id)).json()["title"] == "Lost"


def test_a_title_from_the_task_makes_the_next_reads_fresh(api, owner, settings):
    from conversations import tasks

    settings.ANTHROPIC_API_KEY = ""  # the offline provider titles from the first message
    untitled = services.create_conversation(user=owner)
    services.add_message(
        user=owner, conversation_id=untitled.id, role="user", content="Plan a trip to Kyoto"
    )
    api.get(LIST), api.get(detail(untitled.id))  # warm again, title still empty
    assert api.get(detail(untitled.id)).json()["title"] == ""
    tasks.generate_title.apply(args=[str(untitled.id)])
    assert api.get(detail(untitled.id)).json()["title"] != ""
    assert (
        api.get(LIST).json()["results"][0]["title"] == api.get(detail(untitled.id)).json()["title"]
    )


def _script_calls() -> int:
    from django_redis import get_redis_connection

    stats = get_redis_connection("default").info("commandstats")
    return sum(stats.get(name, {}).get("calls", 0) for name in ("cmdstat_eval", "cmdstat_evalsha"))


def test_a_batch_of_changes_is_raised_in_one_round_trip_and_each_read_misses(api, owner):
    # What the legacy migration's transactions raise after commit: many conversations.
    conversations = [services.create_conversation(user=owner, title=f"C{n}") for n in range(30)]
    for conversation in conversations[:3]:
        assert api.get(detail(conversation.id))["X-Cache"] == "miss"
        assert api.get(detail(conversation.id))["X-Cache"] == "hit"
    api.get(LIST)
    assert api.get(LIST)["X-Cache"] == "hit"
    top = max(c.change_seq for c in conversations)
    before = _script_calls()

    numina_cache.changed_many(
        owner_id=owner.pk,
        changes=[(conversation.id, top + 1 + n) for n, conversation in enumerate(conversations)],
    )

    assert _script_calls() - before == 1
    assert api.get(LIST)["X-Cache"] == "miss"
    for conversation in conversations[:3]:
        assert api.get(detail(conversation.id))["X-Cache"] == "miss"


def test_a_batch_never_lowers_a_version(owner, conversation):
    scope = numina_cache.conversation_scope(owner_id=owner.pk, conversation_id=conversation.id)
    numina_cache.changed_many(owner_id=owner.pk, changes=[(conversation.id, 1000)])
    numina_cache.store(kind=numina_cache.CONVERSATION, scope=scope, version=1000, value="at 1000")

    numina_cache.changed_many(owner_id=owner.pk, changes=[(conversation.id, 5)])

    # Lowered to 5, the version would no longer match the entry built at 1000.
    hit = numina_cache.read(kind=numina_cache.CONVERSATION, scope=scope)
    assert hit is not None
    assert hit.value == "at 1000"
    numina_cache.changed_many(owner_id=owner.pk, changes=[(conversation.id, 1001)])
    assert numina_cache.read(kind=numina_cache.CONVERSATION, scope=scope) is None


def test_a_batch_raised_while_redis_is_away_is_kept_per_conversation_and_replayed(
    api, owner, settings
):
    conversations = [services.create_conversation(user=owner, title=f"C{n}") for n in range(3)]
    for conversation in conversations:
        api.get(detail(conversation.id))
    working = settings.CACHES
    settings.CACHES = {**working, "default": {**working["default"], "LOCATION": CLOSED_PORT_CACHE}}
    numina_cache.changed_many(
        owner_id=owner.pk, changes=[(c.id, c.change_seq + 100) for c in conversations]
    )
    settings.CACHES = working

    assert sorted(PendingInvalidation.objects.values_list("conversation_id", flat=True)) == sorted(
        c.id for c in conversations
    )
    numina_cache.breaker.open = False
    assert numina_cache.replay_pending() is True
    assert not PendingInvalidation.objects.exists()
    for conversation in conversations:
        assert api.get(detail(conversation.id))["X-Cache"] == "miss"
