"""ChatGPT's ``conversations.json`` (its data export): a list of conversations, each a
``mapping`` of nodes ``{id, message, parent, children}`` and the ``current_node`` shown.

Mapping choices (README, "Import"): every branch is kept (an edited prompt or a
regenerated answer is a sibling, as in Numina). Shown are the nodes ChatGPT shows:
``user``, ``assistant`` and visible ``system`` messages of text content; the empty
root, hidden system messages (``is_visually_hidden_from_conversation``, custom
instructions), tool calls and tool output (role ``tool``, a ``recipient`` other than
``all``) and reasoning (``thoughts``, ``reasoning_recap``) are skipped, their children
joined to the nearest shown ancestor. A message's ``parts`` are joined by a blank line;
an image part becomes ``[image]``. ``create_time`` may be null: the message then takes
its parent's time (or the conversation's). The model (``model_slug``) goes to metadata.
"""

from __future__ import annotations

from typing import Any

from .common import (
    Node,
    SourceConversation,
    SourceMessage,
    as_dict,
    clean_text,
    from_epoch,
    from_tree,
    title_of,
)

SOURCE = "chatgpt"
TEXT_TYPES = {"text", "multimodal_text"}
ROLES = {"user", "assistant", "system"}


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        if part.get("content_type") == "image_asset_pointer":
            return "[image]"
        if isinstance(part.get("text"), str):  # audio transcriptions and the like
            return part["text"]
    return ""


def _content(content: Any) -> str:
    if not isinstance(content, dict):
        return ""
    kind = content.get("content_type")
    if kind in TEXT_TYPES:
        parts = content.get("parts") or []
        if not isinstance(parts, list):
            return ""
        return "\n\n".join(text for text in map(_part_text, parts) if text.strip())
    if kind == "code" and isinstance(content.get("text"), str):
        return f"```\n{content['text']}\n```"
    return ""


def _message(message: Any) -> SourceMessage | None:
    if not isinstance(message, dict):
        return None
    author = as_dict(message.get("author"))
    role = author.get("role")
    metadata = as_dict(message.get("metadata"))
    if (
        role not in ROLES
        or metadata.get("is_visually_hidden_from_conversation")
        or metadata.get("is_user_system_message")
        or message.get("recipient", "all") not in (None, "all")
    ):
        return None
    text = clean_text(_content(message.get("content")))
    if not text.strip():
        return None
    model = metadata.get("model_slug")
    return SourceMessage(
        role=role,
        content=text,
        created_at=from_epoch(message.get("create_time")),
        metadata={"model": model} if isinstance(model, str) and model else {},
    )


def conversation(item: Any, index: int) -> SourceConversation:
    if not isinstance(item, dict):
        return SourceConversation(source=SOURCE, source_id=f"#{index}", problem="Not an object.")
    source_id = str(item.get("id") or item.get("conversation_id") or "")
    mapping = item.get("mapping")
    if not source_id or not isinstance(mapping, dict):
        return SourceConversation(
            source=SOURCE,
            source_id=source_id or f"#{index}",
            problem="A ChatGPT conversation needs an id and a mapping.",
        )
    created_at = from_epoch(item.get("create_time"))
    nodes = {}
    for position, (node_id, node) in enumerate(mapping.items()):
        if not isinstance(node, dict):
            continue
        message = _message(node.get("message"))
        time = message.created_at if message is not None else None
        parent = node.get("parent")
        nodes[str(node_id)] = Node(
            parent=str(parent) if parent is not None else None,
            message=message,
            order=(time is None, time.timestamp() if time else 0, position),
        )
    return from_tree(
        nodes,
        source=SOURCE,
        source_id=source_id,
        title=title_of(item.get("title")),
        created_at=created_at,
        current=item.get("current_node"),
    )
