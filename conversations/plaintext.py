"""Markdown read as plain text: what a title drawn from a message shows.

A title made from the first message (the offline provider's, and the fallback when the
model fails) is shown as text, not rendered, so "Can you explain what a **B-tree** is"
must become "Can you explain what a B-tree is", not keep its asterisks. The text comes
from markdown-it-py's own token stream — the parser the chat page renders messages with
(rendering.py) — rather than from regular expressions, so emphasis, links, images,
headings, lists, escapes and inline code read exactly as CommonMark reads them, and the
work is linear in the message whatever it holds.

Code blocks (fenced or indented) are left out when the message has any prose: a title
names the question, not the forty lines pasted under it. A message that is only code
keeps the code's text. Raw HTML is not interpreted (``html`` off): ``<b>`` stays as the
characters typed, which the templates escape like any other title.

This module imports nothing of the project, so the model's door (llm.py) may use it.
"""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

_PARSER = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_CODE_BLOCKS = {"fence", "code_block"}


def _inline_text(children: Sequence[Token] | None) -> str:
    parts: list[str] = []
    for child in children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.children:
            # An image: its alt text, itself inline tokens.
            parts.append(_inline_text(child.children))
    return "".join(parts)


def markdown_to_text(text: str) -> str:
    """The words of a Markdown text on one line, without its markup; the prose only when
    there is any, else the code. Empty when nothing readable is left (a rule, ``***``)."""
    prose: list[str] = []
    code: list[str] = []
    for token in _PARSER.parse(text):
        if token.type == "inline":
            prose.append(_inline_text(token.children))
        elif token.type in _CODE_BLOCKS:
            code.append(token.content)
    words = " ".join(prose).split() or " ".join(code).split()
    return " ".join(words)
