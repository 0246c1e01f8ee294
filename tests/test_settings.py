"""Settings and the web's start-up checks (numina/startup.py), each in a fresh process."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from numina.startup import refuse_unsafe_secret_key

ROOT = Path(__file__).resolve().parent.parent


def run_django_setup(
    code: str = "import numina.wsgi", **env_overrides: str
) -> subprocess.CompletedProcess:
    """Load the web application (what gunicorn and runserver do) in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "numina.settings"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_refuses_to_start_with_the_development_secret_key_when_debug_is_off():
    result = run_django_setup(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is the development default" in result.stderr


def test_asgi_refuses_it_too():
    result = run_django_setup("import numina.asgi", DEBUG="false")
    assert "SECRET_KEY is the development default" in result.stderr


def test_commands_that_sign_nothing_run_without_a_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_starts_with_the_development_secret_key_in_debug():
    assert run_django_setup(DEBUG="true").returncode == 0


def test_starts_with_a_real_secret_key_when_debug_is_off():
    key = secrets.token_urlsafe(50)
    assert run_django_setup(DEBUG="false", SECRET_KEY=key).returncode == 0


def published_placeholder_keys() -> list[str]:
    """The SECRET_KEY values this repository itself shows: what gets copied."""
    example = re.search(r"^SECRET_KEY=(.*)$", (ROOT / ".env.example").read_text(), re.M)
    compose = re.findall(r"\$\{SECRET_KEY:?-([^}]*)\}", (ROOT / "docker-compose.yml").read_text())
    return list(dict.fromkeys([example.group(1), *compose, "changeme", "secret"]))


@pytest.mark.parametrize("placeholder", published_placeholder_keys())
def test_web_refuses_a_published_placeholder_secret_key(placeholder):
    result = run_django_setup(DEBUG="false", SECRET_KEY=placeholder)
    assert result.returncode != 0
    assert "SECRET_KEY is a published placeholder" in result.stderr


def test_web_refuses_a_padded_placeholder_secret_key():
    result = run_django_setup(DEBUG="false", SECRET_KEY="change-me-" + secrets.token_hex(40))
    assert "SECRET_KEY is a published placeholder" in result.stderr


RANDOM_LOOKING_49 = "Xq7vR2mK9pL4tW8zN3bC6yH1jF5dG0sAeUoIiQ-_rTxMnBvZk"


@pytest.mark.parametrize(
    "weak_key",
    [
        "a-real-secret",
        RANDOM_LOOKING_49,  # one character short of Django's 50
        "ab" * 40,  # long, but two distinct characters
        "django-insecure-" + RANDOM_LOOKING_49,  # startproject's throwaway key
    ],
    ids=["short", "49-characters", "two-distinct-characters", "django-insecure-prefix"],
)
def test_web_refuses_a_guessable_secret_key(weak_key):
    result = run_django_setup("import numina.asgi", DEBUG="false", SECRET_KEY=weak_key)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_web_refuses_a_placeholder_among_the_secret_key_fallbacks(settings):
    # Fallbacks still verify signatures: a published one forges sessions just as well.
    settings.DEBUG = False
    settings.SECRET_KEY = secrets.token_urlsafe(50)
    settings.SECRET_KEY_FALLBACKS = ["change-me-in-production"]
    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY_FALLBACKS\[0\]"):
        refuse_unsafe_secret_key()


def test_persistent_database_connections_are_on_by_default(settings):
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
