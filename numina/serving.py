"""The gunicorn worker that serves numina.asgi (gunicorn.conf.py names it).

uvicorn's worker for gunicorn, with uvicorn's access log off: numina/asgi.py writes the
access log itself, without query strings (uvicorn's line carries them, and ``?q=`` holds
the user's search terms).
"""

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "access_log": False,
        "lifespan": "on",
        # Numina reads X-Forwarded-For itself, by NUM_PROXIES (DRF's throttles, /metrics);
        # uvicorn rewriting the client address from it too would be a second rule.
        "proxy_headers": False,
        "server_header": False,
    }
