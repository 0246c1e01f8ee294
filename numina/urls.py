"""Numina's URLs: the browser UI, the API under /api/v1/, and the admin."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts.throttling import throttle_sign_in
from numina import ops

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    # Ahead of admin.site.urls: the admin's log-in counts into the same sign-in buckets.
    path("admin/login/", throttle_sign_in(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/v1/", include("conversations.api.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("conversations.urls")),
]

if settings.NUMINA_BENCHMARK_FLOOR:
    from benchmarks.floor import FloorListView

    urlpatterns.append(path("bench/floor/", FloorListView.as_view(), name="bench-floor"))
