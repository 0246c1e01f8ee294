"""The daily token budget per user: chat, titles and summaries draw from it, counted from
the model's real usage in PostgreSQL, over it chat answers 429 and background work waits."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from conversations import llm, tasks
from conversations.models import Conversation, Message, TokenUsage
from conversations.services import spend
from tests.conversations.test_tasks import long_chat
from tests.factories import UserFactory
from tests.fake_anthropic import Reply, Stream

pytestmark = pytest.mark.django_db
CHAT = "/api/v1/chat/"


def used(user) -> tuple[int, int]:
    row = TokenUsage.objects.get(owner=user, day=spend.usage_day())
    return row.input_tokens, row.output_tokens


def spent(user, tokens: int) -> None:
    spend.record_usage(
        user=user,
        completion=llm.Completion(
            text="", provider="test", model="test", input_tokens=tokens, output_tokens=0
        ),
    )


@pytest.fixture
def budget(settings):
    settings.NUMINA_DAILY_TOKEN_BUDGET = 100
    return 100


# --- counting ---------------------------------------------------------------------------


def test_chat_reply_is_charged_its_real_usage(api, user, claude):
    claude.answer(Reply("Hi", input_tokens=30, output_tokens=6))

    api.post(CHAT, {"message": "Hello"}, format="json")

    assert used(user) == (30, 6)


def test_streamed_reply_is_charged_its_real_usage(api, user, claude):
    claude.answer(Stream(chunks=["a", "b"], input_tokens=40, output_tokens=9))

    response = api.post(CHAT, {"message": "Hello", "stream": True}, format="json")
    b"".join(response.streaming_content)

    assert used(user) == (40, 9)


def test_offline_chat_is_charged_its_estimated_tokens(api, user, offline):
    api.post(CHAT, {"message": "Hello"}, format="json")

    input_tokens, output_tokens = used(user)
    assert input_tokens > 0
    assert output_tokens == llm.estimate_tokens(llm.OFFLINE_REPLY)


def test_title_and_summary_are_charged_to_the_owner(user, claude, settings):
    conversation = long_chat(user)
    claude.answer(Reply("A title", input_tokens=50, output_tokens=3))
    claude.answer(Reply("A summary", input_tokens=200, output_tokens=20))

    tasks.generate_title.apply(args=[str(conversation.id)])
    tasks.summarize_conversation.apply(args=[str(conversation.id)])

    assert used(user) == (250, 23)


@pytest.mark.django_db(transaction=True)
def test_concurrent_usage_records_lose_no_counts():
    user = UserFactory()
    start = threading.Barrier(8)

    def record():
        start.wait()
        try:
            for _ in range(10):
                spent(user, 3)
        finally:
            connection.close()

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert used(user) == (8 * 10 * 3, 0)
    assert TokenUsage.objects.filter(owner=user).count() == 1


def test_usage_is_counted_per_utc_day(user, budget):
    spent(user, budget)
    TokenUsage.objects.filter(owner=user).update(day=spend.usage_day() - timedelta(days=1))

    spend.ensure_within_budget(user=user)  # yesterday's spending does not count today


# --- chat over the budget ---------------------------------------------------------------


def test_chat_over_the_daily_token_budget_is_429_and_stores_nothing(api, user, claude, budget):
    claude.answer(Reply("Hi", input_tokens=90, output_tokens=10))
    first = api.post(CHAT, {"message": "One"}, format="json")

    refused = api.post(CHAT, {"message": "Two"}, format="json")

    assert first.status_code == 201
    assert refused.status_code == 429
    assert refused.json()["code"] == "token_budget_exceeded"
    assert refused.json()["detail"]
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= 24 * 3600
    assert abs(retry_after - spend.seconds_until_tomorrow()) <= 2
    assert Message.objects.filter(conversation__owner=user).count() == 2
    assert len(claude.requests) == 1


def test_streamed_chat_over_the_budget_is_429_before_any_stream(api, user, offline, budget):
    spent(user, budget)

    refused = api.post(CHAT, {"message": "Hi", "stream": True}, format="json")

    assert refused.status_code == 429
    assert refused.json()["code"] == "token_budget_exceeded"
    assert not Conversation.objects.filter(owner=user).exists()


def test_offline_chat_runs_out_of_budget_too(api, user, offline, settings):
    # The embedded default's real path: the offline provider's estimate counts.
    settings.NUMINA_DAILY_TOKEN_BUDGET = llm.estimate_tokens(llm.OFFLINE_REPLY) + 1
    assert api.post(CHAT, {"message": "Hello"}, format="json").status_code == 201

    refused = api.post(CHAT, {"message": "Hello again"}, format="json")

    assert refused.status_code == 429
    assert refused.json()["code"] == "token_budget_exceeded"


def test_a_budget_of_zero_is_unlimited(api, user, offline, settings):
    settings.NUMINA_DAILY_TOKEN_BUDGET = 0
    spent(user, 10**9)

    assert api.post(CHAT, {"message": "Hello"}, format="json").status_code == 201


def test_one_users_spending_leaves_another_user_alone(api, other_user, offline, budget):
    spent(other_user, budget)

    assert api.post(CHAT, {"message": "Hello"}, format="json").status_code == 201


def test_composer_over_the_budget_streaming_is_a_json_429(client, user, budget):
    client.force_login(user)
    spent(user, budget)

    response = client.post(reverse("send_new"), {"content": "Hi"}, HTTP_X_NUMINA_STREAM="1")

    assert response.status_code == 429
    assert response["Retry-After"]
    assert "midnight UTC" in " ".join(response.json()["errors"])
    assert not Conversation.objects.filter(owner=user).exists()


def test_composer_over_the_budget_without_javascript_keeps_the_page(client, user, budget):
    client.force_login(user)
    spent(user, budget)

    response = client.post(reverse("send_new"), {"content": "Keep me"})

    assert response.status_code == 429
    assert "midnight UTC" in response.content.decode()
    assert "Keep me" in response.content.decode()
    assert not Message.objects.exists()


# --- background work over the budget waits ----------------------------------------------


def test_title_over_the_budget_waits_without_asking_the_model(user, claude, budget):
    conversation = long_chat(user)
    spent(user, budget)

    tasks.generate_title.apply(args=[str(conversation.id)])

    conversation.refresh_from_db()
    assert conversation.title == ""  # not the fallback: the model's title comes tomorrow
    assert claude.requests == []


def test_summary_over_the_budget_waits_without_asking_the_model(user, claude, budget):
    conversation = long_chat(user)
    spent(user, budget)

    tasks.summarize_conversation.apply(args=[str(conversation.id)])

    conversation.refresh_from_db()
    assert (conversation.summary, conversation.summary_covers_seq) == ("", 0)
    assert claude.requests == []


def test_sweeper_leaves_owners_over_budget_for_the_next_day(user, budget, enqueued):
    conversation = long_chat(user)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_activity_at=conversation.last_activity_at - timedelta(hours=1)
    )
    spent(user, budget)

    assert tasks.sweep_conversations() == {"titles": 0, "summaries": 0}

    # The UTC day rolls over: yesterday's spending no longer counts, the work comes back.
    TokenUsage.objects.filter(owner=user).update(day=spend.usage_day() - timedelta(days=1))
    assert tasks.sweep_conversations() == {"titles": 1, "summaries": 1}


def test_seconds_until_tomorrow_counts_to_midnight_utc():
    assert spend.seconds_until_tomorrow(now=datetime(2026, 1, 1, 23, 59, 0, tzinfo=UTC)) == 61
