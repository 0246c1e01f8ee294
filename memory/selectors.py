"""Reads of memory: the API's list, the memory page (keyset pages on the index
memory_owner_created) and the bounded selection the model's context carries.

Every read reaches the items through conversations/access.py, the one ownership door.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from conversations import access, cursors, llm

from .models import MemoryItem

# Newest first, the id breaking ties (the index memory_owner_created).
ORDERING = ("-created_at", "-id")
# The context's order (the index memory_owner_context): the user's own, then the newest.
CONTEXT_ORDERING = ("-user_written", "-updated_at", "-id")
CONTEXT_HEADER = (
    "\n\nWhat you know about the user (from earlier conversations; the user can see and "
    "change it):\n"
)


def memory_items(*, user) -> QuerySet[MemoryItem]:
    """The user's items, newest first: the API's list (paged by DRF's cursor)."""
    return access.owned_memory_items(user=user).order_by(*ORDERING)


@dataclass(frozen=True)
class MemoryPage:
    items: list[MemoryItem]
    next_cursor: str | None


def memory_page(*, user, cursor: str | None, size: int) -> MemoryPage:
    """One page of the memory page; a garbled cursor starts from the top. One query."""
    rows, next_cursor = cursors.newest_first_page(
        rows=memory_items(user=user), moment_field="created_at", cursor=cursor, size=size
    )
    return MemoryPage(items=rows, next_cursor=next_cursor)


def memory_line(*, kind: str, content: str) -> str:
    """One item as the system prompt states it."""
    return f"- {kind.capitalize()}: {content}"


def context_budget(*, budget: int) -> int:
    """The share of a context budget memory may take (NUMINA_MEMORY_CONTEXT_SHARE)."""
    return max(int(budget * settings.NUMINA_MEMORY_CONTEXT_SHARE), 0)


def fit_memory(rows: Iterable[Mapping[str, Any]], *, budget: int) -> list[dict]:
    """The rows (in the context's order) whose lines fit the memory share of ``budget``
    tokens; a long item may be passed over where a shorter one after it still fits."""
    remaining = context_budget(budget=budget) - llm.estimate_tokens(CONTEXT_HEADER)
    chosen: list[dict] = []
    for row in rows:
        cost = llm.estimate_tokens(memory_line(kind=row["kind"], content=row["content"]) + "\n")
        if cost > remaining:
            continue
        remaining -= cost
        chosen.append(
            {
                "id": str(row["id"]),
                "kind": row["kind"],
                "content": row["content"],
                "user_written": row["user_written"],
            }
        )
    return chosen


def context_memory(*, user, budget: int) -> list[dict]:
    """The items the next context carries: none when memory is off; else the user's own
    first, then the newest, while their lines fit the memory share of ``budget`` tokens.
    One query, of at most NUMINA_MEMORY_CONTEXT_ITEMS rows (none when memory is off)."""
    if user is None or not getattr(user, "memory_enabled", False):
        return []
    rows = (
        access.owned_memory_items(user=user)
        .order_by(*CONTEXT_ORDERING)
        .values("id", "kind", "content", "user_written")[: settings.NUMINA_MEMORY_CONTEXT_ITEMS]
    )
    return fit_memory(rows, budget=budget)


def memory_text(items: list[dict]) -> str:
    """The system prompt's section for the chosen items ('' for none)."""
    if not items:
        return ""
    return CONTEXT_HEADER + "\n".join(
        memory_line(kind=item["kind"], content=item["content"]) for item in items
    )


def items_learnt_in(*, user, conversation_id) -> int:
    """How many items this conversation taught (the chat page's unobtrusive note)."""
    return (
        access.owned_memory_items(user=user).filter(source_conversation_id=conversation_id).count()
    )


def exported_memory(*, user) -> list[dict]:
    """Every item of the user, for the whole-account export (memory.json). One query."""
    return [
        {
            "id": str(item.id),
            "kind": item.kind,
            "content": item.content,
            "source_conversation_id": (
                str(item.source_conversation_id) if item.source_conversation_id else None
            ),
            "user_written": item.user_written,
            "created_at": item.created_at.isoformat(),
            "updated_at": item.updated_at.isoformat(),
        }
        for item in memory_items(user=user)
    ]
