"""Search ranks a bounded candidate set (issue 19): the newest ``NUMINA_SEARCH_CANDIDATES``
matches of a query, best match first among them, so a query's cost does not grow with
its number of matches. The plan is read with EXPLAIN ANALYZE for what it did (how many
rows each step produced), not for which of the fitting indexes the planner took."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from conversations import selectors, services
from conversations.selectors import sidebar

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/search/"


def chat(user, title, *messages):
    """A conversation of (content, created_at) user messages."""
    conversation = services.create_conversation(user=user, title=title)
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[
            services.NewMessage(role="user", content=content, created_at=created_at)
            for content, created_at in messages
        ],
    )
    return conversation


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def walnuts(user, now):
    """Six messages matching "walnut", one a day: the more walnuts, the older (so the
    best matches are the oldest), each with its day in the text."""
    chat(
        user,
        "walnuts",
        *[(f"day{day} " + "walnut " * (day + 1), now - timedelta(days=day)) for day in range(6)],
    )


def days(results) -> list[str]:
    return [r["snippet"].split()[0] for r in results]


@override_settings(NUMINA_SEARCH_CANDIDATES=3)
def test_a_query_matching_more_than_the_bound_ranks_only_the_newest_matches(api, walnuts):
    body = api.get(SEARCH, {"q": "walnut"}).json()

    # The three newest (days 0-2), best ranked first; the better, older ones are not
    # candidates.
    assert days(body["results"]) == ["day2", "day1", "day0"]
    assert body["next"] is None


@override_settings(NUMINA_SEARCH_CANDIDATES=50)
def test_under_the_bound_every_match_is_ranked_best_first(api, walnuts):
    body = api.get(SEARCH, {"q": "walnut"}).json()

    assert days(body["results"]) == [f"day{day}" for day in range(5, -1, -1)]


@override_settings(NUMINA_SEARCH_CANDIDATES=5)
def test_pages_hold_each_candidate_exactly_once(api, walnuts):
    seen, url = [], SEARCH + "?q=walnut&page_size=2"
    while url:
        body = api.get(url).json()
        seen += days(body["results"])
        url = body["next"]

    assert seen == ["day4", "day3", "day2", "day1", "day0"]


@override_settings(NUMINA_SEARCH_CANDIDATES=2)
def test_filters_choose_the_candidates_before_the_bound(api, user, walnuts, now):
    # Days 3-5 are the only matches before that moment: the bound takes the newest two
    # of those, not of every match.
    body = api.get(
        SEARCH, {"q": "walnut", "before": (now - timedelta(days=2, hours=12)).isoformat()}
    )

    assert days(body.json()["results"]) == ["day4", "day3"]


@override_settings(NUMINA_SEARCH_CANDIDATES=2)
def test_the_sidebar_search_ranks_the_same_candidates(user, walnuts):
    found = sidebar.sidebar_search(user=user, query="walnut", limit=10)

    assert [m.content.split()[0] for m in found.messages] == ["day1", "day0"]


@override_settings(NUMINA_SEARCH_CANDIDATES=3)
def test_query_count_does_not_grow_with_matches(api, user, walnuts, now, django_assert_num_queries):
    with django_assert_num_queries(2):  # token with its user; the page with its titles
        api.get(SEARCH, {"q": "walnut"})
    for n in range(10):
        chat(user, f"more {n}", ("walnut pie", now - timedelta(days=10 + n)))
    with django_assert_num_queries(2):
        api.get(SEARCH, {"q": "walnut"})


# --- the plan -------------------------------------------------------------------------

MATCHES = 2000
BOUND = 20


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def executed_plan(queryset) -> list[dict]:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        document = cursor.fetchone()[0]
    if isinstance(document, str):
        document = json.loads(document)
    return list(_nodes(document[0]["Plan"]))


def rows_out(node: dict) -> int:
    return int(node["Actual Rows"] * node["Actual Loops"])


@pytest.fixture
def word_in_every_message(user, other_user, now):
    """A word in each of the user's 2,000 messages (and in another user's), analysed."""
    for owner in (user, other_user):
        chat(
            owner,
            "every",
            *[(f"pecan note {n}", now - timedelta(minutes=n)) for n in range(MATCHES)],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@override_settings(NUMINA_SEARCH_CANDIDATES=BOUND)
def test_a_word_in_every_message_reads_only_the_bounded_candidates(user, word_in_every_message):
    page = selectors.search_messages(user=user, query="pecan").order_by("-rank", "-id")[:21]  # type: ignore[misc]  # rank: annotated
    nodes = executed_plan(page)

    # Whichever index the planner walks, no step produced more than a few times the
    # bound: neither the user's 2,000 matches nor the other user's were read.
    assert max(rows_out(node) for node in nodes) <= 3 * BOUND, json.dumps(nodes[0], indent=1)
    # And what was ranked (the input of the sort by rank) was the bounded set.
    ranked = [
        node
        for node in nodes
        if node["Node Type"] == "Sort" and "ts_rank" in " ".join(node.get("Sort Key", []))
    ]
    assert ranked
    assert all(rows_out(node["Plans"][0]) <= BOUND for node in ranked)
    assert len(list(page)) == BOUND
