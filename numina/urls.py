"""Numina's URLs: the browser UI, the API under /api/v1/, and the admin."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults
from rest_framework.exceptions import NotFound

from accounts import views as account_views
from accounts.throttling import throttle_sign_in
from numina import ops

API_PREFIX = "/api/"


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for a path no URL matches: under /api/ the API's JSON body, the same
    one DRF gives for an id that does not exist, so a path id that is not a UUID (the
    ``<uuid:…>`` converter matches none) cannot be told from a missing one."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse(
            {"detail": str(NotFound.default_detail), "code": NotFound.default_code}, status=404
        )
    return defaults.page_not_found(request, exception)


handler404 = not_found

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    # Ahead of admin.site.urls: the admin's log-in counts into the same sign-in buckets.
    path("admin/login/", throttle_sign_in(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("conversations.api.urls")),
    path("accounts/", include("accounts.urls")),
    path("account/", account_views.account, name="account"),
    path("account/delete/", account_views.delete_account, name="account_delete"),
    path("memory/", include("memory.urls")),
    path("", include("conversations.urls")),
]

if settings.NUMINA_BENCHMARK_FLOOR:
    from benchmarks.floor import FloorListView, FloorUploadView

    urlpatterns.append(path("bench/floor/", FloorListView.as_view(), name="bench-floor"))
    urlpatterns.append(
        path("bench/floor/upload/", FloorUploadView.as_view(), name="bench-floor-upload")
    )
