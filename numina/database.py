"""What every PostgreSQL connection of Numina's gets, in every process (web, worker,
commands, tests): psycopg's C loader for ``timestamptz``.

Django registers a loader of its own for ``timestamptz`` on each connection
(``psycopg_any.BaseTzLoader``), a subclass of psycopg's pure-Python loader that only sets
the datetime's tzinfo to the connection's time zone. psycopg uses its C loader only for
its own classes, so under Django every timestamp is parsed in Python: 37,000 parses per
100 pages of 60 conversations, the largest single cost of the hot reads (issue 19), about
ten times what the C loader takes (measured: 3,000 timestamps in 20.6 ms against 1.9 ms).

Where the connection's time zone is UTC (Django sets it to TIME_ZONE, which is UTC here),
the C loader gives exactly what Django's gives: the same instant with
``datetime.timezone.utc`` (tests/test_database.py holds the two to that). For any other
zone Django's loader is left alone.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.backends.signals import connection_created
from psycopg import adapters
from psycopg.adapt import Loader, PyFormat
from psycopg.postgres import types

FAST_TIMESTAMPS_UID = "numina.database.fast_timestamps"
_TIMESTAMPTZ_OID = types["timestamptz"].oid


class UTCTimestamptzLoader(Loader):
    """Loads timestamptz text with psycopg's own loader (the C one when psycopg's C
    extension is installed, as ``psycopg[binary]`` does) into UTC.

    Django asks each new cursor's loader for its ``timezone`` and registers its own loader
    on the cursor when it differs, so this one says it; and the C loader cannot be
    subclassed (a final type), so each instance hands out the C instance's ``load``:
    psycopg calls a Python loader's ``load`` per value, which is then the C parse."""

    timezone = datetime.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        native = adapters.get_loader(oid, PyFormat.as_pq(PyFormat.TEXT))
        if native is not None:
            self.load = native(oid, context).load  # type: ignore[method-assign]

    def load(self, data: Any) -> datetime.datetime:
        raise NotImplementedError  # replaced per instance by the native loader's


def _use_fast_timestamps(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor != "postgresql" or connection.timezone != datetime.UTC:
        return
    connection.connection.adapters.register_loader(_TIMESTAMPTZ_OID, UTCTimestamptzLoader)


def install() -> None:
    """Called once per process (conversations' AppConfig.ready)."""
    connection_created.connect(_use_fast_timestamps, dispatch_uid=FAST_TIMESTAMPS_UID)
