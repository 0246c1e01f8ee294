"""Search filters (API.md, search): ``conversation_id``, ``role``, ``tag``, ``after``,
``before``; bad values a 400, another user's conversation a 404; and each filter's plan
read with EXPLAIN, so a filter never turns search into a scan of the messages table."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations import selectors, services

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/"
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def chat(user, title, *messages, tags=()):
    """A conversation of (role, content, created_at) messages."""
    conversation = services.create_conversation(user=user, title=title, tags=list(tags))
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[
            services.NewMessage(role=role, content=content, created_at=created_at)
            for role, content, created_at in messages
        ],
    )
    return conversation


def found(api, **params) -> list[tuple[str, str]]:
    response = api.get(SEARCH, {"q": "heron", **params})
    assert response.status_code == 200, response.content
    return sorted((r["conversation_title"], r["role"]) for r in response.json()["results"])


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def chats(user, now):
    old = now - timedelta(days=30)
    return {
        "birds": chat(
            user,
            "birds",
            ("user", "a heron by the river", old),
            ("assistant", "the heron is grey", old),
            tags=["nature"],
        ),
        "recent": chat(user, "recent", ("user", "heron again", now), tags=["daily"]),
    }


def test_conversation_id_narrows_to_that_conversation(api, chats):
    assert found(api, conversation_id=str(chats["recent"].id)) == [("recent", "user")]


def test_role_narrows_to_that_role(api, chats):
    assert found(api, role="assistant") == [("birds", "assistant")]


def test_tag_narrows_to_the_conversations_carrying_it(api, chats):
    assert found(api, tag="nature") == [("birds", "assistant"), ("birds", "user")]
    assert found(api, tag="none-such") == []


def test_after_is_inclusive_and_before_exclusive(api, chats, now):
    assert found(api, after=now.isoformat()) == [("recent", "user")]
    assert found(api, before=now.isoformat()) == [("birds", "assistant"), ("birds", "user")]
    assert found(api, after=(now - timedelta(days=31)).isoformat(), before=now.isoformat()) == [
        ("birds", "assistant"),
        ("birds", "user"),
    ]


def test_filters_combine(api, chats, now):
    assert found(api, tag="nature", role="user", before=now.isoformat()) == [("birds", "user")]
    assert found(api, conversation_id=str(chats["birds"].id), role="user", tag="daily") == []


def test_the_filters_page_as_search_does(api, user, now):
    chat(user, "many", *[("user", f"heron {n}", now) for n in range(5)])
    chat(user, "other", ("user", "heron", now))
    conversation_id = str(selectors.list_conversations(user=user).get(title="many").id)

    first = api.get(SEARCH, {"q": "heron", "conversation_id": conversation_id, "page_size": 3})
    second = api.get(first.json()["next"])

    titles = [r["conversation_title"] for r in first.json()["results"] + second.json()["results"]]
    assert titles == ["many"] * 5
    assert second.json()["next"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"after": "yesterday"}, "after", id="bad after"),
        pytest.param({"before": "2026-13-40T00:00:00Z"}, "before", id="bad before"),
        pytest.param(
            {"after": "2026-12-02T10:00:00Z", "before": "2026-12-01T10:00:00Z"},
            "before",
            id="before not after after",
        ),
        pytest.param({"role": "robot"}, "role", id="bad role"),
        pytest.param({"conversation_id": "not-a-uuid"}, "conversation_id", id="not a uuid"),
        pytest.param({"tag": "x" * 201}, "tag", id="tag too long"),
    ],
)
def test_a_bad_filter_is_a_400(api, chats, params, field):
    response = api.get(SEARCH, {"q": "heron", **params})

    assert response.status_code == 400
    assert field in response.json()


def test_another_users_conversation_is_the_same_404_as_a_missing_one(api, other_user, now):
    theirs = chat(other_user, "theirs", ("user", "heron secret", now))

    theirs_response = api.get(SEARCH, {"q": "heron", "conversation_id": str(theirs.id)})
    missing_response = api.get(SEARCH, {"q": "heron", "conversation_id": str(uuid.uuid4())})

    assert theirs_response.status_code == missing_response.status_code == 404
    assert theirs_response.json() == missing_response.json() == NOT_FOUND


def test_a_trashed_conversation_is_a_404_too(api, user, chats):
    services.trash_conversation(user=user, conversation_id=chats["birds"].id)

    response = api.get(SEARCH, {"q": "heron", "conversation_id": str(chats["birds"].id)})

    assert response.status_code == 404


def test_another_users_tag_of_the_same_name_finds_nothing_of_theirs(api, other_user, now):
    chat(other_user, "theirs", ("user", "heron", now), tags=["nature"])

    assert found(api, tag="nature") == []


def test_the_schema_lists_the_filters(tmp_path):
    import yaml
    from django.core.management import call_command

    call_command("spectacular", "--file", str(tmp_path / "s.yml"))
    schema = yaml.safe_load((tmp_path / "s.yml").read_text())
    search = schema["paths"]["/api/v1/search/"]["get"]
    parameters = {p["name"]: p["schema"] for p in search["parameters"]}

    assert parameters["conversation_id"]["format"] == "uuid"
    assert parameters["after"]["format"] == parameters["before"]["format"] == "date-time"
    assert set(parameters["role"]["enum"]) == {"user", "assistant", "system"}
    assert "tag" in parameters
    assert "404" in search["responses"]


# --- the plans ------------------------------------------------------------------------


@pytest.fixture
def searchable(user, other_user, now):
    """Two users' chats over a year, analysed, with sequential scans priced out: each
    filter's plan then shows which index can serve it (on a table this small the planner
    would otherwise rightly read it whole)."""
    for owner in (user, other_user):
        for n in range(20):
            chat(
                owner,
                f"chat {n}",
                *[
                    (
                        "user" if i % 2 else "assistant",
                        # One message in eight matches, as a real query's would.
                        f"{'heron' if i % 8 == 0 else 'kiwi'} note {i}",
                        now - timedelta(days=i),
                    )
                    for i in range(40)
                ],
                tags=["nature"] if n % 4 == 0 else [],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SET LOCAL enable_seqscan = off")
    return selectors.list_conversations(user=user).first()


def plan(user, **filters) -> str:
    results = selectors.search_messages(user=user, query="heron", **filters)
    return results.order_by("-rank", "-id")[:21].explain()  # type: ignore[misc]


def test_conversation_id_reads_the_conversations_messages_by_index(user, searchable):
    text = plan(user, conversation_id=searchable.id)

    # By the conversation's own index or the (conversation, seq) one: either reads only
    # its messages.
    assert f"Index Cond: (conversation_id = '{searchable.id}'::uuid)" in text
    assert "Seq Scan" not in text


def test_role_narrows_what_an_index_of_the_owners_messages_finds(user, searchable):
    # Three roles: no index of its own would be selective. At the benchmark's scale
    # (10,000 messages a user) the rows come from message_owner_search; on this small
    # table the planner may price the owner's time index lower, bitmap or walked newest
    # first (search's bounded candidates, issue 19). Never a scan.
    text = plan(user, role="assistant")

    assert re.search(
        r"Index Scan on message_owner_(search|created)"
        r"|Index Scan (Backward )?using message_owner_(search|created)",
        text,
    ), text
    assert "role)::text = 'assistant'" in text
    assert "Seq Scan" not in text


def test_tag_reads_the_tag_and_its_conversations_by_index(user, searchable):
    text = plan(user, tag="nature")

    # Which of the join table's two indexes (by tag, or the unique one by conversation
    # and tag) the planner takes varies with the statistics of the moment; either reads
    # the tag's conversations by index, never the table whole.
    assert re.search(
        r"Index (Only )?Scan using conversations_conversation_tags_\w+ on "
        r"conversations_conversation_tags|Bitmap Index Scan on conversations_conversation_tags_",
        text,
    ), text
    assert "Seq Scan" not in text


@pytest.mark.parametrize("bound", ["after", "before"])
def test_a_narrow_time_range_reads_the_owners_messages_by_time(user, searchable, now, bound):
    # The newest day (after) or the oldest (before): the new index answers the range.
    moment = now - timedelta(hours=12) if bound == "after" else now - timedelta(days=39)
    text = plan(user, **{bound: moment})

    assert "message_owner_created" in text
    assert "created_at" in text.split("message_owner_created", 1)[1]
    assert "Seq Scan" not in text
