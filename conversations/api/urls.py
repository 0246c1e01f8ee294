"""/api/v1/ — the contract of ../shared/API.md."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api
from memory import api as memory_api

from . import batch, bulk, chat_views, events, file_views, sharing, views

urlpatterns = [
    path("auth/register/", accounts_api.RegisterView.as_view(), name="api-register"),
    path("auth/token/", accounts_api.TokenView.as_view(), name="api-token"),
    path("auth/logout/", accounts_api.LogoutView.as_view(), name="api-logout"),
    path("auth/logout-all/", accounts_api.LogoutAllView.as_view(), name="api-logout-all"),
    path("auth/devices/", accounts_api.DeviceListView.as_view(), name="api-devices"),
    path(
        "auth/devices/<uuid:device_id>/",
        accounts_api.DeviceDetailView.as_view(),
        name="api-device",
    ),
    path("me/", accounts_api.MeView.as_view(), name="api-me"),
    path("me/stats/", views.StatsView.as_view(), name="api-me-stats"),
    path("me/settings/", memory_api.SettingsView.as_view(), name="api-me-settings"),
    path("memory/", memory_api.MemoryListView.as_view(), name="api-memory"),
    path("memory/<uuid:item_id>/", memory_api.MemoryDetailView.as_view(), name="api-memory-item"),
    path("export/", views.ExportAllView.as_view(), name="api-export"),
    path("conversations/", views.ConversationListView.as_view(), name="api-conversations"),
    path("conversations/bulk/", bulk.BulkView.as_view(), name="api-conversations-bulk"),
    path("conversations/import/", views.ImportView.as_view(), name="api-conversation-import"),
    path(
        "conversations/<uuid:conversation_id>/",
        views.ConversationDetailView.as_view(),
        name="api-conversation",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        views.MessageListView.as_view(),
        name="api-conversation-messages",
    ),
    path(
        "conversations/<uuid:conversation_id>/export/",
        views.ExportView.as_view(),
        name="api-conversation-export",
    ),
    path(
        "conversations/<uuid:conversation_id>/share/",
        sharing.ShareView.as_view(),
        name="api-conversation-share",
    ),
    path("shared/<str:token>/", sharing.SharedConversationView.as_view(), name="api-shared"),
    path("chat/", chat_views.ChatView.as_view(), name="api-chat"),
    path("chat/regenerate/", chat_views.RegenerateView.as_view(), name="api-chat-regenerate"),
    path(
        "conversations/<uuid:conversation_id>/context/",
        chat_views.ContextView.as_view(),
        name="api-conversation-context",
    ),
    path("import/", views.ImportFileView.as_view(), name="api-import"),
    path("import/<uuid:job_id>/", views.ImportJobView.as_view(), name="api-import-job"),
    path("trash/", views.TrashListView.as_view(), name="api-trash"),
    path(
        "trash/<uuid:conversation_id>/restore/",
        views.TrashRestoreView.as_view(),
        name="api-trash-restore",
    ),
    path("tags/", views.TagListView.as_view(), name="api-tags"),
    path("files/", file_views.FileListView.as_view(), name="api-files"),
    path("files/<uuid:file_id>/", file_views.FileDetailView.as_view(), name="api-file"),
    path("search/", views.SearchView.as_view(), name="api-search"),
    path("sync/", views.SyncView.as_view(), name="api-sync"),
    path("batch/", batch.BatchView.as_view(), name="api-batch"),
    # An async view: served under ASGI (numina/asgi.py), never from a request thread.
    path("events/", events.stream, name="api-events"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
