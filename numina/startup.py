"""What the web (wsgi, asgi, runserver) does before it serves its first request: checks,
and the limits that hold for web requests only.

wsgi.py and asgi.py call them after loading Django; management commands do not (migrate and
makemigrations sign nothing, so they run without a real key).
"""

import gc
import re
from importlib import import_module

from django.conf import settings
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created

STATEMENT_TIMEOUT_UID = "numina.startup.statement_timeout"

# Keys someone may copy instead of generating one: the examples this repository publishes
# (.env.example, docker-compose.yml, the README) and the usual tutorial values. They are
# compared without case and punctuation, so "Change_Me" is "change-me".
PUBLISHED_PLACEHOLDERS = frozenset(
    {
        "change-me-to-a-long-random-string",
        "change-me-in-production",
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "secretkey",
        "your-secret-key",
        "your-secret-key-here",
        "django-secret-key",
        "insecure",
        "password",
    }
)
# Every placeholder this project ever published asks to be changed; a key that still says
# so, however long, was copied rather than generated.
PLACEHOLDER_MARKER = "changeme"


def _normalised(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def secret_key_problem(*, key: str, development_key: str) -> str | None:
    """Why ``key`` must not sign anything in production, or None when it may.

    The length and variety rule is Django's own (``check --deploy``'s security.W009): a key
    an attacker can guess or brute-force lets them forge sessions, CSRF tokens and password
    reset links.
    """
    if key == development_key:
        return "is the development default"
    normalised = _normalised(key)
    if normalised in {_normalised(p) for p in PUBLISHED_PLACEHOLDERS} or (
        PLACEHOLDER_MARKER in normalised
    ):
        return "is a published placeholder"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"starts with {SECRET_KEY_INSECURE_PREFIX!r} (Django's throwaway keys)"
    if len(key) < SECRET_KEY_MIN_LENGTH or len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return (
            f"is too weak: it needs at least {SECRET_KEY_MIN_LENGTH} characters and "
            f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones"
        )
    return None


def refuse_unsafe_secret_key() -> None:
    """Sessions, CSRF tokens and password resets are signed with SECRET_KEY (and still
    verified with SECRET_KEY_FALLBACKS): serving them with a key that is published or
    guessable would let anyone forge them. DEBUG on is development, where anything goes."""
    if settings.DEBUG:
        return
    keys = {"SECRET_KEY": settings.SECRET_KEY}
    keys.update(
        (f"SECRET_KEY_FALLBACKS[{i}]", fallback)
        for i, fallback in enumerate(settings.SECRET_KEY_FALLBACKS)
    )
    for name, key in keys.items():
        problem = secret_key_problem(key=key, development_key=settings.DEV_SECRET_KEY)
        if problem:
            raise ImproperlyConfigured(
                f"{name} {problem} while DEBUG is off: set SECRET_KEY to a long random "
                "string, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'."
            )


def limit_statement_time() -> None:
    """Every database connection the web opens cancels a statement (lock waits included)
    after NUMINA_STATEMENT_TIMEOUT_MS, so no request holds a connection for long.

    Installed from wsgi.py and asgi.py only: migrations, migrate_conversations and the
    Celery worker never load them, so long imports and migrations are not cut. (With the
    embedded default's in-process tasks, those tasks run under the web's limit.)
    """
    if settings.NUMINA_STATEMENT_TIMEOUT_MS > 0:
        connection_created.connect(_set_statement_timeout, dispatch_uid=STATEMENT_TIMEOUT_UID)


def _set_statement_timeout(sender, connection, **kwargs) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        # A session setting, once per connection (they are persistent: CONN_MAX_AGE).
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, false)",
            [f"{settings.NUMINA_STATEMENT_TIMEOUT_MS}ms"],
        )


def freeze_startup_objects() -> None:
    """Put everything loaded before the first request (Django, the libraries, the URLconf
    and every view module it imports) out of the garbage collector's reach, so that a full
    collection walks only what the requests made since.

    A served process holds some 216,000 objects that live as long as it does. Without
    this, each full (oldest-generation) collection walked them all: measured in-process on
    the search page, a pause of 120-160 ms every ~700 requests, so every request in flight
    then waited as long. Frozen, the full collections walk the rest (4-19 ms).
    ``gc.freeze`` is CPython's own tool for a process that loads once and then serves; the
    collect first leaves no garbage of the start-up in the frozen set.
    """
    # The URLconf imports every view module (and what they import) now, not during the
    # first request, so those are frozen too.
    import_module(settings.ROOT_URLCONF)
    gc.collect()
    gc.freeze()
