"""Claude.ai's ``conversations.json`` (its data export): a list of conversations
``{uuid, name, created_at, chat_messages}``, each message ``{uuid, sender, text,
content, created_at}`` with ``sender`` ``human`` or ``assistant``.

Mapping choices (README, "Import"): ``human`` is the user. A message's text is its
``content`` blocks of type ``text`` joined by a blank line (``thinking``, ``tool_use``
and ``tool_result`` blocks are the model's workings, not shown), else its ``text``.
The export is one straight branch in order; where messages carry
``parent_message_uuid`` (newer exports) the branches are kept, and
``current_leaf_message_uuid`` is the one shown. Attachments are not imported (their
file names go to metadata). A missing ``name`` is an untitled chat.
"""

from __future__ import annotations

from typing import Any

from .common import (
    Node,
    SourceConversation,
    SourceMessage,
    clean_text,
    from_iso,
    from_tree,
    title_of,
)

SOURCE = "claude"
ROLES = {"human": "user", "assistant": "assistant"}


def _text(message: dict) -> str:
    blocks = message.get("content")
    if isinstance(blocks, list):
        texts = [
            block["text"]
            for block in blocks
            if isinstance(block, dict)
            and block.get("type") == "text"
            and isinstance(block.get("text"), str)
            and block["text"].strip()
        ]
        if texts:
            return "\n\n".join(texts)
    text = message.get("text")
    return text if isinstance(text, str) else ""


def _message(message: dict) -> SourceMessage | None:
    role = ROLES.get(str(message.get("sender")))
    text = clean_text(_text(message))
    if role is None or not text.strip():
        return None
    names = [
        attachment.get("file_name")
        for attachment in (message.get("attachments") or []) + (message.get("files") or [])
        if isinstance(attachment, dict) and isinstance(attachment.get("file_name"), str)
    ]
    return SourceMessage(
        role=role,
        content=text,
        created_at=from_iso(message.get("created_at")),
        metadata={"attachments": names[:20]} if names else {},
    )


def conversation(item: Any, index: int) -> SourceConversation:
    if not isinstance(item, dict) or not item.get("uuid"):
        return SourceConversation(
            source=SOURCE,
            source_id=f"#{index}",
            problem="A Claude.ai conversation needs a uuid and its chat_messages.",
        )
    raw = item.get("chat_messages")
    if not isinstance(raw, list):
        return SourceConversation(
            source=SOURCE, source_id=str(item["uuid"]), problem="chat_messages is not a list."
        )
    listed = [m for m in raw if isinstance(m, dict)]
    ids = [str(m.get("uuid") or f"#{position}") for position, m in enumerate(listed)]
    known = set(ids)
    branched = any(str(m.get("parent_message_uuid")) in known for m in listed)
    nodes = {}
    for position, (node_id, message) in enumerate(zip(ids, listed, strict=True)):
        parent = (
            str(message.get("parent_message_uuid"))
            if branched
            else (ids[position - 1] if position else None)
        )
        nodes[node_id] = Node(parent=parent, message=_message(message), order=(position,))
    created_at = from_iso(item.get("created_at"))
    return from_tree(
        nodes,
        source=SOURCE,
        source_id=str(item["uuid"]),
        title=title_of(item.get("name")),
        created_at=created_at,
        current=item.get("current_leaf_message_uuid") if branched else None,
    )
