"""Per-user limits that refuse a request for a while rather than for good.

The daily token budget (services/spend.py) and the cap on concurrent streams
(streams.py) raise ``LimitReached``; the API and the browser UI both turn it into a 429
with ``Retry-After`` and its ``code``, so a client can tell the two apart and knows when
to try again.
"""

from __future__ import annotations


class LimitReached(Exception):
    code = "limit_reached"

    def __init__(self, *, detail: str, retry_after: int):
        super().__init__(detail)
        self.detail = detail
        # Whole seconds, at least one: what the Retry-After header carries.
        self.retry_after = max(1, int(retry_after))
