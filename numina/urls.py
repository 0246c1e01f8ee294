"""Numina's URLs: the browser UI, the API under /api/v1/, and the admin."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("conversations.api.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("conversations.urls")),
]
