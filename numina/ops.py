"""Operations endpoints: liveness, readiness, and the Prometheus scrape (protected)."""

import ipaddress
import logging
import secrets

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django_prometheus.exports import ExportToDjangoView

logger = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("readyz: database unreachable")
        return "unavailable"
    return "ok"


def _cache() -> str:
    from django_redis.cache import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return "ok"  # the embedded default's in-process cache
    try:
        backend.client.get_client().ping()
    except Exception:
        logger.warning("readyz: cache unreachable", exc_info=True)
        return "degraded"
    return "ok"


def _broker() -> str:
    from numina.celery import app

    if app.conf.task_always_eager:
        return "ok"  # tasks run in-process
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=settings.NUMINA_READYZ_TIMEOUT)
    except Exception:
        logger.warning("readyz: broker unreachable", exc_info=True)
        return "degraded"
    return "ok"


@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """Ready while the database answers; a cache or broker outage only degrades Numina
    (pages come from PostgreSQL, titles and summaries arrive later)."""
    checks = {"database": _database(), "cache": _cache(), "broker": _broker()}
    return JsonResponse(checks, status=200 if checks["database"] == "ok" else 503)


def _allowed(request: HttpRequest) -> bool:
    """The token, or a scrape from this very host with nothing in between.

    REMOTE_ADDR is only the last hop: behind a reverse proxy (NUM_PROXIES > 0) it is the
    proxy's address for every client, and on a compose network published ports arrive from
    the bridge's gateway. No network address stands for "our scraper" there, so anything but
    a direct loopback connection needs the token.
    """
    token = settings.NUMINA_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if given and secrets.compare_digest(given.encode(), token.encode()):
            return True
    if settings.NUM_PROXIES:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    # Not found, rather than forbidden, for everyone else: the endpoint is not public.
    if not _allowed(request):
        raise Http404
    return ExportToDjangoView(request)
