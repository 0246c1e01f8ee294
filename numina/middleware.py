"""Numina's middleware. Server-Timing: how long Django spent on a request, as seen by the
server itself, so a client (and the benchmark) can tell server time from network and
queueing time. Statement timeout: a query the database cancelled is a 503, not a 500."""

import time
from collections.abc import Callable
from typing import Any

import psycopg
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

# Every middleware here also runs async: under Django's ASGI handler (the event stream,
# numina/asgi.py) a sync-only one would be run in a thread of the request's own, kept for
# as long as the request, which for a stream is hours.


class ServerTimingMiddleware(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> None:
        request.numina_started = time.perf_counter()  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        started = getattr(request, "numina_started", None)
        if started is not None:
            response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, which is sync only, made to pass straight through when run async: only
    the event stream is served by the ASGI handler, and it is no static file."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any], *args, **kwargs) -> None:
        super().__init__(get_response, *args, **kwargs)
        self._passes_through = iscoroutinefunction(get_response)
        if self._passes_through:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._passes_through:
            return self.get_response(request)  # the awaitable of the async handler
        return super().__call__(request)


STATEMENT_TIMEOUT_DETAIL = "The database took too long to answer; try again."


class StatementTimeoutMiddleware(MiddlewareMixin):
    """A statement cut by NUMINA_STATEMENT_TIMEOUT_MS (numina/startup.py) answers 503 with
    the code ``database_timeout``, for the API and the browser UI alike: the request was
    fine, the database was busy. Its transaction was rolled back, so nothing half-done
    stays behind."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not (
            isinstance(exception, OperationalError)
            and isinstance(exception.__cause__, psycopg.errors.QueryCanceled)
        ):
            return None
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse(
                {"detail": STATEMENT_TIMEOUT_DETAIL, "code": "database_timeout"}, status=503
            )
        else:
            response = HttpResponse(
                STATEMENT_TIMEOUT_DETAIL, status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = "1"
        return response
