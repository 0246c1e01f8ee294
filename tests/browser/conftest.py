"""A real browser against a live server: Playwright driving Debian's chromium package.

Playwright's own browser download does not work on these machines, so the tests launch
the system's /usr/bin/chromium (``apt-get install chromium``; .ci/run does it) through
``executable_path``. The live server (numina/asgi.py under uvicorn) runs on the suite's
PostgreSQL and Redis.
"""

import os
import shutil
from pathlib import Path

import pytest

# The loopback fake of Anthropic's Messages API, for a real streamed reply.
from tests.conversations.conftest import claude  # noqa: F401

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from
# a thread with a running loop unless told that this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("NUMINA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The flags this machine needs: no sandbox as root, and no background connections
# (they are refused by the closed network, many at a time).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def live_server(django_db_setup):
    """The pages as production serves them: numina/asgi.py under uvicorn (the live event
    stream needs ASGI; Django's WSGI live server would hold it as a list for ever).
    pytest-django's helper still makes each test that uses it transactional."""
    from tests.asgi_server import AsgiLiveServer

    server = AsgiLiveServer(host="localhost")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed ({CHROMIUM}): apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _page(chromium, **context_options):
    context = chromium.new_context(**context_options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    return context, page


@pytest.fixture
def page(chromium):
    context, page = _page(chromium, viewport={"width": 1280, "height": 800})
    yield page
    context.close()


@pytest.fixture
def phone(chromium):
    context, page = _page(
        chromium,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        # No drawer animation: the screenshot shows where things end up.
        reduced_motion="reduce",
    )
    yield page
    context.close()


@pytest.fixture
def log_in(live_server):
    """Log a page in through the form as a new user; returns the user."""
    from tests.factories import UserFactory

    def go(page, user=None):
        user = user or UserFactory()
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("textbox", name="Message").wait_for()
        return user

    return go


@pytest.fixture
def eager_tasks(monkeypatch):
    """Celery tasks (the title) run in the live server's request, as with no worker
    configured: these tests have no worker process."""
    from numina.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
