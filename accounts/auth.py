"""API token authentication: django-rest-knox's, one query per request.

Knox sweeps all of the user's other tokens for expired ones on every request — a second
query each time, growing with the number of devices. Here a request checks only its own
token (an expired one is refused and deleted, as knox does); other expired tokens are
swept when the user next logs in (services.issue_token).

Knox decodes the header's token as UTF-8 unguarded; a raw non-UTF-8 byte (WSGI hands
headers over as Latin-1) would be a 500 instead of the 401 of any other bad token.
"""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework import exceptions


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The same Bearer scheme in the OpenAPI schema."""

    target_class = "accounts.auth.TokenAuthentication"
