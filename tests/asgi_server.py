"""The production serving model in a thread of the test process: numina/asgi.py under
uvicorn, on the test database (the thread opens its own connections to it).

What pytest-django's ``live_server`` is for WSGI; the event stream needs ASGI. Static
files come from the apps' finders as with ``live_server`` (no collectstatic in tests).
"""

from __future__ import annotations

import socket
import threading
import time


class AsgiLiveServer:
    """A started server: ``url``; ``stop()`` ends it (open streams included)."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
        from django.test.utils import modify_settings

        import numina.asgi

        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        # Read by pytest-django's _live_server_helper when this stands in for live_server.
        self._live_server_modified_settings = modify_settings(ALLOWED_HOSTS={"append": host})
        config = uvicorn.Config(
            ASGIStaticFilesHandler(numina.asgi.application),
            host=host,
            port=self.port,
            lifespan="on",
            access_log=False,
            proxy_headers=False,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="asgi-live-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __str__(self) -> str:
        return self.url
