"""GET /api/v1/me/stats/ and /account/'s chart: exact counts, per month, the user's own."""

import datetime as dt

import pytest

from conversations import services
from conversations.models import Message, TokenUsage

pytestmark = pytest.mark.django_db

STATS = "/api/v1/me/stats/"


def at(year: int, month: int, day: int = 3) -> dt.datetime:
    return dt.datetime(year, month, day, 12, tzinfo=dt.UTC)


def chat(user, *months: dt.datetime):
    """A chat with one message created at each of ``months``."""
    conversation = services.create_conversation(user=user, title="Stats")
    for when in months:
        message = services.add_message(
            user=user, conversation_id=conversation.id, role="user", content="hi"
        ).message
        Message.objects.filter(id=message.id).update(created_at=when)
    return conversation


@pytest.fixture
def history(user, other_user):
    chat(user, at(2026, 1), at(2026, 1, 31), at(2026, 3))
    chat(user, at(2026, 3, 1), at(2025, 12, 31))
    services.create_conversation(user=user, title="Empty")
    TokenUsage.objects.create(owner=user, day=dt.date(2026, 1, 5), input_tokens=10, output_tokens=3)
    TokenUsage.objects.create(owner=user, day=dt.date(2026, 1, 6), input_tokens=5, output_tokens=2)
    # A month with tokens and no stored messages (a chat deleted since) still shows.
    TokenUsage.objects.create(owner=user, day=dt.date(2026, 2, 1), input_tokens=7, output_tokens=1)
    # Another user's history counts nowhere in mine.
    chat(other_user, at(2026, 1), at(2026, 4))
    TokenUsage.objects.create(
        owner=other_user, day=dt.date(2026, 4, 1), input_tokens=99, output_tokens=99
    )


def test_stats_count_exactly_and_by_month_ascending(api, history):
    answer = api.get(STATS)
    assert answer.status_code == 200
    assert answer.json() == {
        "conversations": 3,
        "messages": 5,
        "tokens_in": 22,
        "tokens_out": 6,
        "by_month": [
            {"month": "2025-12", "messages": 1, "tokens_in": 0, "tokens_out": 0},
            {"month": "2026-01", "messages": 2, "tokens_in": 15, "tokens_out": 5},
            {"month": "2026-02", "messages": 0, "tokens_in": 7, "tokens_out": 1},
            {"month": "2026-03", "messages": 2, "tokens_in": 0, "tokens_out": 0},
        ],
    }


def test_stats_of_an_empty_account(api):
    assert api.get(STATS).json() == {
        "conversations": 0,
        "messages": 0,
        "tokens_in": 0,
        "tokens_out": 0,
        "by_month": [],
    }


def test_stats_take_the_same_few_queries_for_any_history(
    api, user, history, django_assert_max_num_queries
):
    # The request (token, user, throttle) and three reads: conversations, messages per
    # month, tokens per month.
    with django_assert_max_num_queries(3 + 6) as few:
        api.get(STATS)
    for _ in range(5):
        chat(user, at(2024, 6), at(2023, 2))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert api.get(STATS).json()["messages"] == 15


def test_stats_need_a_signed_in_user(anon_api):
    assert anon_api.get(STATS).status_code == 401


def test_the_account_page_draws_the_chart_with_its_numbers(client, user, history):
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert "<strong>3</strong> chats" in page
    assert "<strong>5</strong> messages" in page
    # Two charts, each with a title and a description that give the numbers.
    assert page.count("<svg") == 2
    assert '<title id="chart-messages-title">Messages per month</title>' in page
    assert "2025-12: 1; 2026-01: 2; 2026-02: 0; 2026-03: 2" in page
    assert "2025-12: 0; 2026-01: 20; 2026-02: 8; 2026-03: 0" in page
    # The tallest bar is the chart's full height; one per month.
    assert page.count("<rect ") == 8
    assert 'y="0.00" width="16" height="80.00"' in page
    # And the same numbers as a table.
    assert '<th scope="row">2026-01</th><td>2</td><td>15</td><td>5</td>' in page


def test_an_empty_account_page_says_there_is_nothing_yet(client, user):
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert "<svg" not in page
    assert "Nothing yet" in page


def test_the_account_page_links_export_all_to_the_archive(client, user):
    client.force_login(user)
    page = client.get("/account/").content.decode()
    assert 'href="/api/v1/export/" download>Export all</a>' in page
