"""What the web (wsgi, asgi, runserver) does before it serves its first request: checks,
and the limits that hold for web requests only."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.signals import connection_created

STATEMENT_TIMEOUT_UID = "numina.startup.statement_timeout"


def refuse_development_secret_key() -> None:
    """Sessions, CSRF tokens and password resets are signed with SECRET_KEY: serving them
    with the key published in settings.py would let anyone forge them."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the development default while DEBUG is off: set SECRET_KEY."
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
