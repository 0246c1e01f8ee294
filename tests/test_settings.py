import os
import subprocess
import sys
from pathlib import Path

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
    assert run_django_setup(DEBUG="false", SECRET_KEY="a-real-secret").returncode == 0


def test_persistent_database_connections_are_on_by_default(settings):
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
