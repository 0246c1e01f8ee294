"""The ASGI entry point: what `make run`, gunicorn (uvicorn workers) and compose serve.

Two kinds of request, two ways to serve them, in one server behind one port:
- ``/api/v1/events/`` (the live stream) goes to Django's ASGI handler, where it is an
  async view: thousands of open streams are coroutines waiting on one event loop, not
  threads;
- everything else goes to the WSGI application in a pool of threads (a2wsgi), exactly as
  under gunicorn's threaded workers: Django under ASGI would run every sync view in one
  thread per process (``thread_sensitive``), and every Numina view but the stream is sync.
  There are two such pools, quick and waiting (numina/pools.py says why and which view
  goes where): a long chat reply never holds a thread that a list needs.

The access log is written here for both, in gunicorn's format of gunicorn.conf.py (path
without its query string, no Referer: ``?q=`` carries the user's words); uvicorn's own
access log, which has the query string, is off (numina/serving.py).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from a2wsgi import WSGIMiddleware
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
django_asgi = get_asgi_application()

from conversations import live  # noqa: E402  (needs the settings loaded above)
from numina import pools  # noqa: E402
from numina.wsgi import application as wsgi_application  # noqa: E402  (checks at start)

EVENTS_PATH = "/api/v1/events/"
# Threads per process for the quick requests (gunicorn's --threads before) and for those
# that wait long on the model, a download or an upload (numina/pools.py).
THREADS = int(os.environ.get("GUNICORN_THREADS", "2"))
WAITING_THREADS = int(os.environ.get("NUMINA_WAITING_THREADS", "16"))
quick = WSGIMiddleware(wsgi_application, workers=THREADS)  # type: ignore[arg-type]
waiting = WSGIMiddleware(wsgi_application, workers=WAITING_THREADS)  # type: ignore[arg-type]

access_log = logging.getLogger("gunicorn.access")


def _client(scope: dict) -> str:
    client = scope.get("client")
    return client[0] if client else "-"


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await live.hub.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return  # no websockets here
    started = time.perf_counter()
    sent = {"status": 0, "bytes": 0}

    async def logged_send(message: dict) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            sent["bytes"] += len(message.get("body", b""))
        await send(message)

    try:
        if scope["path"] == EVENTS_PATH:
            await django_asgi(scope, receive, logged_send)  # type: ignore[arg-type]
        else:
            pool = waiting if pools.waits_long(scope["path"]) else quick
            await pool(scope, receive, logged_send)  # type: ignore[arg-type]
    finally:
        if access_log.isEnabledFor(logging.INFO):
            headers = dict(scope.get("headers") or [])
            access_log.info(
                '%s [%s] "%s %s HTTP/%s" %s %s %dms "%s"',
                _client(scope),
                time.strftime("%d/%b/%Y:%H:%M:%S %z"),
                scope["method"],
                scope["path"],
                scope.get("http_version", "1.1"),
                sent["status"],
                sent["bytes"],
                (time.perf_counter() - started) * 1000,
                headers.get(b"user-agent", b"-").decode("latin-1"),
            )
