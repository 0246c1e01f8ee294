"""The user's statistics (GET /api/v1/me/stats/ and /account/'s chart).

Three queries whatever the history's size: the conversations counted, the messages
counted per month (the total is their sum), and the tokens summed per month from the
daily TokenUsage rows (the totals their sums). Months are calendar months in UTC
(TIME_ZONE), as TokenUsage's days are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth

from .. import access
from ..models import TokenUsage


@dataclass
class MonthStats:
    month: str  # "YYYY-MM"
    messages: int = 0
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass
class AccountStats:
    conversations: int
    messages: int
    tokens_in: int
    tokens_out: int
    # The months with any messages or tokens, oldest first.
    by_month: list[MonthStats] = field(default_factory=list)

    @property
    def peak_messages(self) -> int:
        return max((month.messages for month in self.by_month), default=0)

    @property
    def peak_tokens(self) -> int:
        return max((m.tokens_in + m.tokens_out for m in self.by_month), default=0)


def account_stats(*, user) -> AccountStats:
    """How much the user has here: conversations, messages and tokens, and per month."""
    months: dict[str, MonthStats] = {}
    message_months = (
        access.owned_messages(user=user)
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(count=Count("id"))
        .order_by()
    )
    for row in message_months:
        key = f"{row['month']:%Y-%m}"
        months.setdefault(key, MonthStats(month=key)).messages += row["count"]
    # TokenUsage is the user's own spend ledger, keyed by owner (not a conversation
    # read, so it does not go through access).
    token_months = (
        TokenUsage.objects.filter(owner=user)
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(tokens_in=Sum("input_tokens"), tokens_out=Sum("output_tokens"))
        .order_by()
    )
    for spent in token_months:
        key = f"{spent['month']:%Y-%m}"
        month = months.setdefault(key, MonthStats(month=key))
        month.tokens_in += spent["tokens_in"] or 0
        month.tokens_out += spent["tokens_out"] or 0
    by_month = [months[key] for key in sorted(months)]
    return AccountStats(
        conversations=access.owned_conversations(user=user).count(),
        messages=sum(month.messages for month in by_month),
        tokens_in=sum(month.tokens_in for month in by_month),
        tokens_out=sum(month.tokens_out for month in by_month),
        by_month=by_month,
    )
