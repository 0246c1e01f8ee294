"""Every write, one transaction each; one module per area of the domain.

Callers import from here (``from conversations import services``) so a function can move
between modules without touching them.
"""

from .conversations import (
    UNSET,
    AddedMessage,
    NewMessage,
    add_message,
    add_messages,
    archive_conversation,
    as_uuid,
    create_conversation,
    delete_conversation,
    pin_conversation,
    rename_conversation,
    set_tags,
    unarchive_conversation,
    unpin_conversation,
    update_conversation,
)
from .transfer import export_filename, export_json, export_markdown, import_conversation

__all__ = [
    "UNSET",
    "AddedMessage",
    "NewMessage",
    "add_message",
    "add_messages",
    "archive_conversation",
    "as_uuid",
    "create_conversation",
    "delete_conversation",
    "export_filename",
    "export_json",
    "export_markdown",
    "import_conversation",
    "pin_conversation",
    "rename_conversation",
    "set_tags",
    "unarchive_conversation",
    "unpin_conversation",
    "update_conversation",
]
