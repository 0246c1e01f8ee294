"""API token authentication: django-rest-knox's, one query per request, compiled once.

Knox sweeps all of the user's other tokens for expired ones on every request — a second
query each time, growing with the number of devices. Here a request checks only its own
token (an expired one is refused and deleted, as knox does); other expired tokens are
swept when the user next logs in (services.issue_token).

Every API request runs this lookup, so it is a compiled query (numina/compiled.py): its
SQL is built once per thread, not again on each request. The loop below is knox's own
``authenticate_credentials`` over those rows, made into the same model instances.

Knox decodes the header's token as UTF-8 unguarded; a raw non-UTF-8 byte (WSGI hands
headers over as Latin-1) would be a 500 instead of the 401 of any other bad token.
"""

import binascii
from collections.abc import Iterator
from hmac import compare_digest

from django.db import router
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS, knox_settings
from rest_framework import exceptions

from numina.compiled import CompiledQuery

from .models import User

# The token's owner's columns in the lookup's rows (the lookup joins them, as knox's
# select_related("user") does).
_USER = "user__"


def _columns(model) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]


def token_rows_query(*, token_key: str) -> QuerySet:
    user_columns = [f"{_USER}{name}" for name in _columns(User)]
    return (
        get_token_model()
        .objects.filter(token_key=token_key)
        .values(*_columns(get_token_model()), *user_columns)
    )


TOKEN_ROWS = CompiledQuery(token_rows_query, params={"token_key": str})


def tokens(*, token_key: str) -> Iterator:
    """The tokens with this key, each with its user: the instances knox's query gives."""
    token_model = get_token_model()
    token_columns, user_columns = _columns(token_model), _columns(User)
    for row in TOKEN_ROWS.rows(token_key=token_key):
        auth_token = token_model.from_db(
            router.db_for_read(token_model), token_columns, [row[c] for c in token_columns]
        )
        auth_token.user = User.from_db(
            router.db_for_read(User), user_columns, [row[f"{_USER}{c}"] for c in user_columns]
        )
        yield auth_token


class TokenAuthentication(KnoxTokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        msg = _("Invalid token.")  # knox's own message
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(msg) from None
        for auth_token in tokens(token_key=text[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if self._cleanup_token(auth_token):
                continue
            try:
                digest = hash_token(text)
            except (TypeError, binascii.Error):
                raise exceptions.AuthenticationFailed(msg) from None
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                return self.validate_user(auth_token)
        raise exceptions.AuthenticationFailed(msg)

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The same Bearer scheme in the OpenAPI schema."""

    target_class = "accounts.auth.TokenAuthentication"
