"""Password guessing is throttled twice: per client address and per username.

Every door that checks a password or makes an account — the API's register and token,
the browser's log-in and sign-up, the admin's log-in — counts into the same two buckets
at the ``auth`` rate (NUMINA_THROTTLE_AUTH), so switching doors buys nothing. The address
bucket stops one machine trying many usernames; the username bucket stops many machines
(a botnet, or forged addresses) trying one account.
"""

from collections.abc import Callable, Mapping
from functools import wraps
from hashlib import sha256

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render
from rest_framework.request import Request

from numina.throttling import RateThrottle, client_address

from .models import User


def throttle_username(username: str) -> str:
    """One bucket per account however the name is spelled: the sign-up and log-in rule
    (NFKC, User.normalize_username) and case, which sign-up ignores too."""
    return User.normalize_username(username).casefold()


def _submitted_username(request: HttpRequest | Request) -> str | None:
    if isinstance(request, Request):
        data = request.data  # a ParseError here is the 400 the view would give anyway
    else:
        data = request.POST if request.method == "POST" else {}
    username = data.get("username") if isinstance(data, Mapping) else None
    return username if isinstance(username, str) and username else None


class SignInAddressThrottle(RateThrottle):
    scope = "auth"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": "auth-address", "ident": client_address(request)}


class SignInUsernameThrottle(RateThrottle):
    scope = "auth"

    def get_cache_key(self, request, view) -> str | None:
        username = _submitted_username(request)
        if username is None:
            return None  # nothing to guess at: the address bucket still counts it
        # Hashed: the key holds any submitted text, of any length.
        ident = sha256(throttle_username(username).encode()).hexdigest()
        return self.cache_format % {"scope": "auth-username", "ident": ident}


SIGN_IN_THROTTLES = (SignInAddressThrottle, SignInUsernameThrottle)


class AccountDeletionUsernameThrottle(SignInUsernameThrottle):
    """Deleting the account checks the password of the signed-in user: a stolen session
    must not guess it there faster than at log-in, so it counts in that user's sign-in
    bucket (and the address bucket) — the same buckets as every other door."""

    def get_cache_key(self, request, view) -> str | None:
        if not request.user.is_authenticated:
            return None
        ident = sha256(throttle_username(request.user.get_username()).encode()).hexdigest()
        return self.cache_format % {"scope": "auth-username", "ident": ident}


ACCOUNT_DELETION_THROTTLES = (SignInAddressThrottle, AccountDeletionUsernameThrottle)


def sign_in_wait(
    request: HttpRequest | Request,
    *,
    throttles: tuple[type[RateThrottle], ...] = SIGN_IN_THROTTLES,
) -> float | None:
    """Counts this attempt in every sign-in bucket; the seconds to wait if any is full."""
    waits = []
    for throttle_class in throttles:
        throttle = throttle_class()
        # DRF's rate throttles read only META, user and the scope: a Django request has them,
        # and no view is involved.
        if not throttle.allow_request(request, None):
            waits.append(throttle.wait() or 1)
    return max(waits) if waits else None


def throttle_sign_in(
    view: Callable[..., HttpResponseBase],
    *,
    throttles: tuple[type[RateThrottle], ...] = SIGN_IN_THROTTLES,
) -> Callable[..., HttpResponseBase]:
    """For the browser's and the admin's forms: each POST counts, and one past the rate
    gets a 429 page saying how long to wait, before any password is checked."""

    @wraps(view)
    def throttled_view(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        if request.method == "POST":
            wait = sign_in_wait(request, throttles=throttles)
            if wait is not None:
                seconds = max(1, round(wait))
                response = render(
                    request, "accounts/throttled.html", {"seconds": seconds}, status=429
                )
                response["Retry-After"] = str(seconds)
                return response
        return view(request, *args, **kwargs)

    return throttled_view
