"""Checks the web runs before it serves its first request."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_development_secret_key() -> None:
    """Sessions, CSRF tokens and password resets are signed with SECRET_KEY: serving them
    with the key published in settings.py would let anyone forge them."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the development default while DEBUG is off: set SECRET_KEY."
        )
