"""Open WebUI's chat export (Settings → Chats → Export, or one chat's JSON download): a
list of chats ``{id, title, chat, created_at}`` whose ``chat.history`` holds the tree
``messages`` ``{id: {id, parentId, childrenIds, role, content, timestamp}}`` and the
``currentId`` shown.

Mapping choices (README, "Import"): every branch is kept; siblings in ``childrenIds``
order (that is the order Open WebUI shows its versions in). Without ``history``, the
chat's ``messages`` list is one straight branch. Timestamps are seconds (milliseconds
are recognised). The model name goes to metadata; files are not imported.
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

SOURCE = "openwebui"
ROLES = {"user", "assistant", "system"}


def _text(content: Any) -> str:
    if isinstance(content, list):  # multimodal content: its text parts
        return "\n\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return content if isinstance(content, str) else ""


def _message(message: Any) -> SourceMessage | None:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        return None
    text = clean_text(_text(message.get("content")))
    if not text.strip():
        return None
    model = message.get("model")
    return SourceMessage(
        role=message["role"],
        content=text,
        created_at=from_epoch(message.get("timestamp")),
        metadata={"model": model} if isinstance(model, str) and model else {},
    )


def _tree(history: dict) -> tuple[dict[str, Node], Any]:
    messages = as_dict(history.get("messages"))
    # A sibling's place is its index in the parent's childrenIds.
    rank: dict[str, int] = {}
    for message in messages.values():
        if isinstance(message, dict) and isinstance(message.get("childrenIds"), list):
            for place, child in enumerate(message["childrenIds"]):
                rank.setdefault(str(child), place)
    nodes = {}
    for position, (node_id, message) in enumerate(messages.items()):
        parent = message.get("parentId") if isinstance(message, dict) else None
        nodes[str(node_id)] = Node(
            parent=str(parent) if parent is not None else None,
            message=_message(message),
            order=(rank.get(str(node_id), 0), position),
        )
    return nodes, history.get("currentId")


def conversation(item: Any, index: int) -> SourceConversation:
    chat = item.get("chat") if isinstance(item, dict) else None
    if isinstance(item, dict) and chat is None and isinstance(item.get("history"), dict):
        chat = item  # the chat object alone
    source_id = str(item.get("id") or "") if isinstance(item, dict) else ""
    if not isinstance(chat, dict) or not source_id:
        return SourceConversation(
            source=SOURCE,
            source_id=source_id or f"#{index}",
            problem="An Open WebUI chat needs an id and its chat.",
        )
    history = chat.get("history")
    if isinstance(history, dict) and isinstance(history.get("messages"), dict):
        nodes, current = _tree(history)
    else:
        listed: list = chat["messages"] if isinstance(chat.get("messages"), list) else []
        nodes = {
            f"#{position}": Node(
                parent=f"#{position - 1}" if position else None,
                message=_message(message),
                order=(position,),
            )
            for position, message in enumerate(listed)
        }
        current = None
    created_at = from_epoch(item.get("created_at")) or from_epoch(chat.get("timestamp"))
    return from_tree(
        nodes,
        source=SOURCE,
        source_id=source_id,
        title=title_of(item.get("title") or chat.get("title")),
        created_at=created_at,
        current=current,
    )
