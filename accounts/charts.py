"""/account/'s chart of messages and tokens per month, laid out for a server-rendered SVG.

The page draws the bars itself (templates/accounts/_account_stats.html): two small
bar charts whose geometry is computed here, so the page needs neither JavaScript nor a
chart library, and the same numbers are given as a table beside them.
"""

from __future__ import annotations

from dataclasses import dataclass

from conversations.selectors.stats import AccountStats

# The drawing's own units (its viewBox); the page scales it to its width.
SLOT = 24  # each month's horizontal room
BAR = 16  # the bar inside it
HEIGHT = 80  # the tallest bar
# The drawing is at least this many months wide, so a new account's one or two months
# are bars, not a block across the page.
MIN_MONTHS = 12


@dataclass(frozen=True)
class Bar:
    month: str
    value: int
    x: int
    y: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int = HEIGHT


def _chart(months: list[str], values: list[int]) -> Chart:
    peak = max(values, default=0) or 1
    bars = []
    for n, (month, value) in enumerate(zip(months, values, strict=True)):
        height = HEIGHT * value / peak
        bars.append(
            Bar(month=month, value=value, x=n * SLOT + (SLOT - BAR) // 2, y=HEIGHT - height,
                height=height)
        )  # fmt: skip
    return Chart(bars=bars, width=max(len(months), MIN_MONTHS) * SLOT)


def monthly_charts(stats: AccountStats) -> dict[str, Chart]:
    """A bar per month with activity, oldest first: messages, and tokens (in + out)."""
    months = [month.month for month in stats.by_month]
    return {
        "messages": _chart(months, [month.messages for month in stats.by_month]),
        "tokens": _chart(months, [m.tokens_in + m.tokens_out for m in stats.by_month]),
    }
