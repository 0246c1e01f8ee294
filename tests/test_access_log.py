"""The access log of the real server (gunicorn.conf.py: uvicorn workers serving numina/asgi.py)
keeps search terms out."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_access_log_leaves_out_query_strings_and_referers(tmp_path):
    port = free_port()
    log = tmp_path / "access.log"
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_ACCESSLOG": str(log),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "numina.asgi", "--config", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz?q=secret"
        request = urllib.request.Request(url, headers={"Referer": "http://x/?q=secret"})
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                    assert response.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        # The event stream is served by Django's ASGI handler, not the WSGI pool: logged alike.
        events = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/events/?since=secret")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(events, timeout=5)  # noqa: S310
        assert refused.value.code == 401
        deadline = time.monotonic() + 10
        while "/api/v1/events/" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline, "nothing logged"
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert '"GET /healthz HTTP/1.1" 200' in text
    assert '"GET /api/v1/events/ HTTP/1.1" 401' in text
    assert "secret" not in text
