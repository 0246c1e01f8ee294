"""API token authentication: django-rest-knox's, one query per request.

Knox sweeps all of the user's other tokens for expired ones on every request — a second
query each time, growing with the number of devices. Here a request checks only its own
token (an expired one is refused and deleted, as knox does); other expired tokens are
swept when the user next logs in (services.issue_token).
"""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The same Bearer scheme in the OpenAPI schema."""

    target_class = "accounts.auth.TokenAuthentication"
