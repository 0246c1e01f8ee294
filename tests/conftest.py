"""Shared fixtures. Tests run against the real PostgreSQL and Redis (see pyproject's env)."""

import pytest
from django.core.cache import cache

from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is for attackers, not for a suite that makes thousands
    # of users; the real hasher is still what production uses.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _cache_invalidation_follows_test_transactions(request, monkeypatch):
    """Most tests run inside one transaction that never commits, so after-commit cache
    invalidation would never run and a read after a write would see the old entry. Inside
    such a test, writes are visible at once, so invalidate at once too; tests marked
    ``transaction=True`` commit for real and keep the after-commit path."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return
    from conversations import cache

    monkeypatch.setattr(cache, "on_commit_changed", cache.changed)
    monkeypatch.setattr(cache, "on_commit_changed_many", cache.changed_many)


@pytest.fixture(autouse=True)
def _fresh_cache():
    from conversations.cache import breaker
    from numina.throttling import reset_buckets

    breaker.open = False
    cache.clear()
    reset_buckets()  # Redis's are flushed with the cache; the in-memory ones are not
    yield
    cache.clear()
    reset_buckets()
    breaker.open = False


@pytest.fixture(autouse=True)
def files_root(settings, tmp_path):
    """Uploaded files go to a folder of the test's own (the real FileSystemStorage), so a
    test can look at what is on disk and no test sees another's files."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def token_for(db):
    from accounts.services import issue_token

    def make(user) -> str:
        return issue_token(user=user, device_name="tests")[0]

    return make


@pytest.fixture
def api(user, token_for):
    """An API client authenticated as ``user`` with a Bearer token (the mobile app's way)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


@pytest.fixture
def session_api(user):
    """An API client logged in as ``user`` with a session and enforced CSRF (the browser's way)."""
    from django.middleware.csrf import _get_new_csrf_string
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    client.credentials(HTTP_X_CSRFTOKEN=secret)
    return client


@pytest.fixture
def anon_api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def throttle_rates(monkeypatch):
    """Set DRF throttle rates for one test (DRF binds them to the throttle class at import)."""
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**rates: str) -> None:
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates}
        )

    return set_rates


@pytest.fixture(scope="session")
def asgi_server(django_db_setup):
    """numina/asgi.py under uvicorn in a thread, on the test database (tests/asgi_server.py).
    A test that uses it commits for real (``transactional_db``) so the server sees its data."""
    from tests.asgi_server import AsgiLiveServer

    server = AsgiLiveServer()
    yield server
    server.stop()
