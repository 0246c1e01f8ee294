"""Admin for support staff: find a user's conversation, read it, never hang on a long one."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from .models import Conversation, DeletedConversation, Message, Tag

# How many of a conversation's newest messages its admin page shows inline; the full
# history is one click away in the paginated message list.
ADMIN_RECENT_MESSAGES = 50


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "display_title",
        "owner",
        "message_count",
        "is_archived",
        "is_pinned",
        "last_activity_at",
    )
    list_filter = ("is_archived", "is_pinned")
    search_fields = ("title", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    filter_horizontal = ()
    readonly_fields = (
        "id",
        "message_count",
        "preview",
        "last_activity_at",
        "created_at",
        "updated_at",
        "change_seq",
        "summary_covers_seq",
        "legacy_key",
        "recent_messages",
    )
    exclude = ("tags",)
    show_full_result_count = False  # COUNT(*) over every conversation is not free

    @admin.display(description="Title")
    def display_title(self, obj: Conversation) -> str:
        return obj.display_title

    @admin.display(description=f"Newest {ADMIN_RECENT_MESSAGES} messages")
    def recent_messages(self, obj: Conversation) -> str:
        newest = list(obj.messages.order_by("-seq")[:ADMIN_RECENT_MESSAGES])
        rows = format_html_join(
            "",
            "<li><strong>#{} {}</strong>: {}</li>",
            ((m.seq, m.role, m.content[:500]) for m in reversed(newest)),
        )
        all_url = (
            reverse("admin:conversations_message_changelist") + f"?conversation__id__exact={obj.pk}"
        )
        return format_html(
            '<p><a href="{}">All {} messages</a></p><ol>{}</ol>', all_url, obj.message_count, rows
        )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: support reads messages, it does not rewrite what a user said."""

    list_display = ("conversation_id", "seq", "role", "short_content", "created_at")
    list_filter = ("role",)
    list_select_related = ()
    show_full_result_count = False
    ordering = ("conversation", "seq")
    list_per_page = 100

    @admin.display(description="Content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:120]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "owner")
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)


@admin.register(DeletedConversation)
class DeletedConversationAdmin(admin.ModelAdmin):
    list_display = ("conversation_id", "owner", "deleted_at")
    list_select_related = ("owner",)
    show_full_result_count = False
