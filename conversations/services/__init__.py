"""Every write, one transaction each; one module per area of the domain.

Callers import from here (``from conversations import services``) so a function can move
between modules without touching them.
"""

from .assistant import (
    CONVERSATION_DELETED,
    AssistantUnavailable,
    ChatResult,
    TextDelta,
    chat,
    needs_summary,
    regenerate,
    stream_chat,
    stream_regenerate,
)
from .conversations import (
    NO_PARENT,
    UNSET,
    AddedConversation,
    AddedMessage,
    ConversationDeleted,
    NewMessage,
    add_conversation,
    add_message,
    add_messages,
    archive_conversation,
    create_conversation,
    pin_conversation,
    rename_conversation,
    set_instructions,
    set_tags,
    switch_branch,
    unarchive_conversation,
    unpin_conversation,
    update_conversation,
)
from .sharing import NewShareLink, ShareRefused, share_conversation, stop_sharing
from .summaries import summarize_conversation
from .tags import delete_tag, rename_tag
from .titles import fallback_title, generate_title
from .transfer import (
    export_filename,
    export_json,
    export_markdown,
    import_conversation,
    import_document,
)
from .trash import (
    delete_conversation,
    delete_forever,
    empty_trash,
    purge_before,
    restore_conversation,
    trash_conversation,
)

__all__ = [
    "CONVERSATION_DELETED",
    "NO_PARENT",
    "UNSET",
    "AddedConversation",
    "AddedMessage",
    "AssistantUnavailable",
    "ChatResult",
    "ConversationDeleted",
    "NewMessage",
    "NewShareLink",
    "ShareRefused",
    "TextDelta",
    "add_conversation",
    "add_message",
    "add_messages",
    "archive_conversation",
    "chat",
    "create_conversation",
    "delete_conversation",
    "delete_forever",
    "delete_tag",
    "empty_trash",
    "export_filename",
    "export_json",
    "export_markdown",
    "fallback_title",
    "generate_title",
    "import_conversation",
    "import_document",
    "needs_summary",
    "pin_conversation",
    "purge_before",
    "regenerate",
    "rename_conversation",
    "rename_tag",
    "restore_conversation",
    "set_instructions",
    "set_tags",
    "share_conversation",
    "stop_sharing",
    "stream_chat",
    "stream_regenerate",
    "summarize_conversation",
    "switch_branch",
    "trash_conversation",
    "unarchive_conversation",
    "unpin_conversation",
    "update_conversation",
]
