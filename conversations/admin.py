"""Admin for support staff: find a user's conversation, read it, never hang on a long one.

Every change support makes goes through the same services as the product's own writes,
so it takes a change number (sync sees it), invalidates the cache after commit and, for
a delete, leaves the deletion record sync reports. Owners are read-only: moving a
conversation between users is not a product feature (its messages carry their owner
for search). Nothing here saves or deletes a conversation or a tag row directly.
"""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from . import services, validation
from .models import Conversation, DeletedConversation, Message, Tag


class ConversationAdminForm(forms.ModelForm):
    """Title, archive, pin and tags: what support may change, checked by validation.py."""

    tag_names = forms.CharField(
        label="Tags", required=False, help_text="Comma-separated; replaces the tags."
    )

    class Meta:
        model = Conversation
        fields = ("title", "is_archived", "is_pinned")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tag_names"] = ", ".join(self.instance.tag_list)

    def clean_title(self) -> str:
        title = self.cleaned_data["title"]
        return validation.clean_title(title) if "title" in self.changed_data else title

    def clean_tag_names(self) -> list[str]:
        names = [name for name in self.cleaned_data["tag_names"].split(",") if name.strip()]
        return validation.clean_tags(names)


# How many of a conversation's newest messages its admin page shows inline; the full
# history is one click away in the paginated message list.
ADMIN_RECENT_MESSAGES = 50


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    form = ConversationAdminForm
    list_display = (
        "display_title",
        "owner",
        "message_count",
        "is_archived",
        "is_pinned",
        "last_activity_at",
        "trashed_at",
    )
    # Support sees the trash too (read-only: trashing and restoring go through the
    # services, which keep the tombstone sync reads in step).
    list_filter = ("is_archived", "is_pinned", "trashed_at")
    search_fields = ("title", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    filter_horizontal = ()
    fields = ("owner", "title", "tag_names", "is_archived", "is_pinned")
    readonly_fields = (
        "id",
        "owner",
        "title_set_by_user",
        "summary",
        "archived_at",
        "trashed_at",
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
    show_full_result_count = False  # COUNT(*) over every conversation is not free

    def get_fields(self, request, obj=None):
        return [*self.fields, *(name for name in self.readonly_fields if name not in self.fields)]

    def has_add_permission(self, request) -> bool:
        return False  # conversations are the users' own; support does not start them

    def save_model(self, request, obj: Conversation, form, change: bool) -> None:
        changes = {
            name: form.cleaned_data[field]
            for name, field in (
                ("title", "title"),
                ("is_archived", "is_archived"),
                ("is_pinned", "is_pinned"),
                ("tags", "tag_names"),
            )
            if field in form.changed_data
        }
        if changes:
            services.update_conversation(user=obj.owner, conversation_id=obj.pk, **changes)

    def save_related(self, request, form, formsets, change: bool) -> None:
        pass  # the tags went through update_conversation in save_model

    def delete_model(self, request, obj: Conversation) -> None:
        services.delete_conversation(user=obj.owner, conversation_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        # The "delete selected" action: each conversation through the delete service.
        for conversation in queryset.select_related("owner"):
            services.delete_conversation(user=conversation.owner, conversation_id=conversation.pk)

    def get_deleted_objects(self, objs, request):
        # Listing every message of a long conversation would hang the confirmation page;
        # what goes is the conversations with their messages, as the counts say.
        objs = list(objs)
        summary = {
            "conversations": len(objs),
            "messages": sum(conversation.message_count for conversation in objs),
        }
        return [str(conversation) for conversation in objs], summary, set(), []

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


class TagAdminForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ("name",)

    def clean_name(self) -> str:
        return validation.clean_tag_name(self.cleaned_data["name"])

    def validate_unique(self) -> None:
        # The owner is read-only, so Django would leave (owner, name) unchecked; the
        # model's own constraint says whether the owner already has this name.
        try:
            self.instance.validate_constraints()
        except forms.ValidationError as exc:
            # Django's own path from a model ValidationError to the form's fields.
            self._update_errors(exc)  # type: ignore[attr-defined]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Renames and deletes change every conversation carrying the tag (services.tags)."""

    form = TagAdminForm
    list_display = ("name", "owner")
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    fields = ("owner", "name")
    readonly_fields = ("owner",)

    def has_add_permission(self, request) -> bool:
        return False  # tags come into being on the conversations that carry them

    def save_model(self, request, obj: Tag, form, change: bool) -> None:
        if "name" in form.changed_data:
            services.rename_tag(user=obj.owner, tag_id=obj.pk, name=form.cleaned_data["name"])

    def delete_model(self, request, obj: Tag) -> None:
        services.delete_tag(user=obj.owner, tag_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for tag in queryset.select_related("owner"):
            services.delete_tag(user=tag.owner, tag_id=tag.pk)


@admin.register(DeletedConversation)
class DeletedConversationAdmin(admin.ModelAdmin):
    """Read-only: sync reports these records; editing one would break its promise."""

    list_display = ("conversation_id", "owner", "deleted_at")
    list_select_related = ("owner",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
