"""Numina's middleware. Server-Timing: how long Django spent on a request, as seen by the
server itself, so a client (and the benchmark) can tell server time from network and
queueing time. Statement timeout: a query the database cancelled is a 503, not a 500."""

import time
from collections.abc import Callable

import psycopg
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response


STATEMENT_TIMEOUT_DETAIL = "The database took too long to answer; try again."


class StatementTimeoutMiddleware:
    """A statement cut by NUMINA_STATEMENT_TIMEOUT_MS (numina/startup.py) answers 503 with
    the code ``database_timeout``, for the API and the browser UI alike: the request was
    fine, the database was busy. Its transaction was rolled back, so nothing half-done
    stays behind."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

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
