"""URLs of the chat and context endpoints, included under /api/v1/."""

from django.urls import path

from .chat import ChatView, ContextView

urlpatterns = [
    path("chat/", ChatView.as_view(), name="api-chat"),
    path(
        "conversations/<uuid:conversation_id>/context/",
        ContextView.as_view(),
        name="api-conversation-context",
    ),
]
