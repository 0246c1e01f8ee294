"""Which of a server process's two thread pools runs a request (numina/asgi.py).

Two kinds of request share a process, and they want opposite things of a pool:
- **quick** ones, the reads and writes a phone and a browser make all day: Python work
  between short waits on PostgreSQL and Redis. More threads than that work can use only
  make them take turns at the GIL, so every answer takes longer and the slowest much
  longer (issue 19: with 4 threads per process the p99 was 3-5x the p50 under load; with
  2 it was nearer 2x on most endpoints, README "Hot reads"). ``GUNICORN_THREADS`` of them.
- **waiting** ones, which spend seconds on something other than Python: a reply from the
  model (the API's chat and regenerate, the browser's send, edit and regenerate), an
  export streamed out, an import or a file streamed in or out. A thread that waits
  holds no GIL, so many of them cost little, and they must never hold the quick ones'
  threads: a few long chats would otherwise leave a process no thread for a list.
  ``NUMINA_WAITING_THREADS`` of them.

A view says it is of the second kind with ``@waits`` (on a function view or a view
class); which view a path reaches is Django's resolver's answer, read here before the
request goes to a pool, so the rule lives on the view and nowhere else. A path that
resolves to nothing is quick (its 404 is).
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from django.urls import Resolver404, resolve

WAITS = "numina_waits"

View = TypeVar("View")


def waits(view: View) -> View:
    """Mark a view (function or class) as one that waits long on something else, to be
    served by the waiting pool. Subclasses of a marked class are marked too."""
    setattr(view, WAITS, True)
    return view


def _marked(target: Any) -> bool:
    return bool(getattr(target, WAITS, False))


# Resolving costs about 90 us in the event loop, on top of Django's own resolve in the
# request's thread; the paths asked again and again (the list, sync, search: the query
# string is not part of the path) are answered from here. The URLconf and the marks do
# not change while the process runs.
@functools.lru_cache(maxsize=4096)
def waits_long(path: str) -> bool:
    """Whether the view that ``path`` resolves to is marked with ``@waits``: a function
    view directly (Django's decorators copy the mark outwards, as they copy ``__dict__``),
    a class-based one through the ``view_class`` of its ``as_view()``."""
    try:
        view = resolve(path).func
    except Resolver404:
        return False
    return _marked(view) or _marked(getattr(view, "view_class", None))
