"""Routes of the browser UI (UI.md): /, /chats/<id>/, the actions on a chat and on one
of its messages, and the trash."""

from django.urls import path

from . import organise_views, share_views, trash_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("account/import/", views.import_chats, name="import_chats"),
    path("account/import/<uuid:job_id>/", views.import_job, name="import_job"),
    path("chats/new/", views.new_chat, name="new_chat"),
    path("files/<uuid:file_id>/", views.file_download, name="file"),
    path("chats/list/", views.chat_list, name="chat_list"),
    path("chats/send/", views.send, name="send_new"),
    path("chats/bulk/", organise_views.bulk_action, name="bulk"),
    path("chats/<uuid:conversation_id>/", views.chat_detail, name="chat"),
    path("chats/<uuid:conversation_id>/send/", views.send, name="send"),
    path("chats/<uuid:conversation_id>/title/", views.chat_title, name="chat_title"),
    path("chats/<uuid:conversation_id>/find/", views.find_in_chat, name="find_in_chat"),
    path("chats/<uuid:conversation_id>/item/", views.chat_item, name="chat_item"),
    path("chats/<uuid:conversation_id>/rename/", views.rename, name="rename"),
    path("chats/<uuid:conversation_id>/instructions/", views.instructions, name="instructions"),
    path("chats/<uuid:conversation_id>/share/", views.share, name="share"),
    path("chats/<uuid:conversation_id>/unshare/", views.stop_sharing, name="unshare"),
    path("chats/<uuid:conversation_id>/delete/", views.delete, name="delete"),
    path("chats/<uuid:conversation_id>/tags/", organise_views.set_tags, name="tags"),
    path("chats/<uuid:conversation_id>/export/", views.export, name="export"),
    path("s/<str:token>/", share_views.shared, name="shared"),
    path("trash/", trash_views.trash_list, name="trash"),
    path("trash/<uuid:conversation_id>/restore/", trash_views.restore, name="trash_restore"),
    path(
        "trash/<uuid:conversation_id>/delete/",
        trash_views.delete_forever,
        name="trash_delete",
    ),
    path(
        "chats/<uuid:conversation_id>/messages/<uuid:message_id>/",
        views.message_item,
        name="message",
    ),
    path(
        "chats/<uuid:conversation_id>/messages/<uuid:message_id>/edit/",
        views.edit_message,
        name="edit_message",
    ),
    path(
        "chats/<uuid:conversation_id>/messages/<uuid:message_id>/regenerate/",
        views.regenerate,
        name="regenerate",
    ),
    path(
        "chats/<uuid:conversation_id>/messages/<uuid:message_id>/show/",
        views.show_version,
        name="show_version",
    ),
    *(
        path(
            f"chats/<uuid:conversation_id>/{action}/",
            views.chat_action,
            {"action": action},
            name=action,
        )
        for action in views.ACTIONS
    ),
]
