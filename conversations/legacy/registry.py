"""The known legacy layouts, in the order detection tries them.

Adding a layout: write its module (see base.Layout) and add one line here. Order
matters where shapes overlap: the specific key patterns come before ``llamaindex``,
which accepts a list under any key name.
"""

from __future__ import annotations

from .base import Layout, Snapshot
from .langchain import LangChain
from .llamaindex import LlamaIndex
from .memory import Memory
from .session import Session
from .user_session import UserSession

LAYOUTS: tuple[Layout, ...] = (
    Memory(),
    UserSession(),
    Session(),
    LangChain(),
    LlamaIndex(),
)

BY_NAME: dict[str, Layout] = {layout.name: layout for layout in LAYOUTS}


def companion_keys(key: str) -> list[str]:
    return [companion for layout in LAYOUTS for companion in layout.companion_keys(key)]


def detect(snapshot: Snapshot) -> Layout | None:
    """The layout whose key pattern, Redis type and value shape fit this key."""
    for layout in LAYOUTS:
        if layout.claims(snapshot):
            return layout
    return None


def is_companion(key: str) -> bool:
    return any(layout.is_companion(key) for layout in LAYOUTS)
