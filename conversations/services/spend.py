"""Model spend per user: a daily token budget that every call to the model draws from.

The rule, in one place: before asking the model anything for a user (a chat reply, a
title, a summary, and later memory extraction), ``ensure_within_budget``; after the
model answered, ``record_usage`` with the tokens its ``usage`` reports (input + output).
The day is the UTC day; the budget is ``NUMINA_DAILY_TOKEN_BUDGET`` tokens (0: no limit).

The check comes before the call and the count after it, so the call that crosses the
budget is allowed to finish: a reply is never cut off halfway for money, and the next
call is refused. Chat checks before it stores the user's message, so a refused message
leaves nothing behind; background work that is refused waits for the next day (the
sweeper skips owners over budget and picks their conversations up again after
midnight UTC).

The offline provider's usage is its estimate of the tokens Claude would have used: the
budget then behaves the same with and without a key, and the embedded default shows it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F, QuerySet
from django.utils import timezone

from .. import llm
from ..limits import LimitReached
from ..models import TokenUsage

OVER_BUDGET_DETAIL = (
    "You have used today's model tokens. Your conversations are all there; the assistant "
    "answers again after midnight UTC."
)


class TokenBudgetExceeded(LimitReached):
    code = "token_budget_exceeded"


def usage_day(*, now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date()


def seconds_until_tomorrow(*, now: datetime | None = None) -> int:
    """Seconds until the UTC day rolls over and the budget is whole again."""
    now = (now or timezone.now()).astimezone(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
    return max(1, int((tomorrow - now).total_seconds()) + 1)


def tokens_used_today(*, user) -> int:
    usage = (
        TokenUsage.objects.filter(owner=user, day=usage_day())
        .values_list("input_tokens", "output_tokens")
        .first()
    )
    return sum(usage) if usage else 0


def ensure_within_budget(*, user) -> None:
    """Raise ``TokenBudgetExceeded`` when the user has spent today's budget."""
    budget = settings.NUMINA_DAILY_TOKEN_BUDGET
    if budget and tokens_used_today(user=user) >= budget:
        raise TokenBudgetExceeded(detail=OVER_BUDGET_DETAIL, retry_after=seconds_until_tomorrow())


def record_usage(*, user, completion: llm.Completion) -> None:
    """Add a model call's real usage to the user's count for today.

    One INSERT … ON CONFLICT DO UPDATE that adds to the stored counts: two calls finishing
    at once both count (PostgreSQL serialises them on the row), and the first call of the
    day costs the same single query as any other. The ORM's upsert can only overwrite,
    not add, hence the SQL (PostgreSQL and SQLite both speak it).
    """
    input_tokens, output_tokens = completion.input_tokens or 0, completion.output_tokens or 0
    if not (input_tokens or output_tokens):
        return
    meta = TokenUsage._meta
    table = connection.ops.quote_name(meta.db_table)
    # Raw SQL gets the values as the ORM would send them (a UUID is text on SQLite).
    owner = meta.get_field("owner").get_db_prep_value(user.pk, connection)
    day = meta.get_field("day").get_db_prep_value(usage_day(), connection)
    with connection.cursor() as cursor:
        # The table name comes from the model (quoted); every value is a parameter.
        cursor.execute(
            f"""
            INSERT INTO {table} (owner_id, day, input_tokens, output_tokens)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (owner_id, day) DO UPDATE SET
                input_tokens = {table}.input_tokens + EXCLUDED.input_tokens,
                output_tokens = {table}.output_tokens + EXCLUDED.output_tokens
            """,  # noqa: S608
            [owner, day, input_tokens, output_tokens],
        )


def owners_over_budget() -> QuerySet:
    """Ids of the users who spent today's budget: the sweeper leaves their work for tomorrow."""
    budget = settings.NUMINA_DAILY_TOKEN_BUDGET
    if not budget:
        return TokenUsage.objects.none().values("owner_id")
    return (
        TokenUsage.objects.alias(spent=F("input_tokens") + F("output_tokens"))
        .filter(day=usage_day(), spent__gte=budget)
        .values("owner_id")
    )
