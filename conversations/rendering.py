"""Markdown for messages, rendered and then sanitised, for the browser UI.

Parsing is markdown-it-py's CommonMark parser, which does work linear in the length of a
message for every input (the pathological cases of the CommonMark spec — unclosed
brackets, runs of emphasis markers or backticks, deep nesting — are part of its test
suite); Python-Markdown, used before, took seconds to minutes on ``"[" * 10_000``.

The parser passes raw HTML through and accepts every link scheme, so its output is never
trusted: nh3 (ammonia) keeps only the tags and attributes below, only http(s)/mailto
links, and drops every event handler, so ``<script>``, ``<img onerror>`` and
``javascript:`` links never reach the page whoever wrote the message — the user or the
model. One sanitiser decides, rather than two rule sets that could disagree.

A message never changes once stored, so its HTML is cached by message id and
``RENDERER_VERSION`` (raise it whenever the output for the same text would change).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import nh3
from markdown_it import MarkdownIt

from . import cache

if TYPE_CHECKING:
    from .models import Message

# Raise when the parser, its options or the sanitiser's allow-lists change: cached HTML
# under the old number is then never read again (and expires).
RENDERER_VERSION = 2
RENDERED_TTL = 24 * 3600  # a day: rendered HTML is cheap to remake, Redis memory is not

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "sup", "sub", "kbd",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "th": {"align", "style"},
    "td": {"align", "style"},
}
URL_SCHEMES = {"http", "https", "mailto"}


def _parser() -> MarkdownIt:
    # "breaks": a single newline is a line break, as people type in a chat box. The
    # nesting limit (maxNesting, 20 in the commonmark preset) bounds ">>>>…" and deep lists.
    parser = MarkdownIt("commonmark", {"breaks": True, "html": True}).enable(
        ["table", "strikethrough"]
    )
    # Every link becomes a link and nh3 drops the unsafe href: otherwise a refused
    # ``[x](javascript:…)`` would stay on the page as literal text.
    parser.validateLink = lambda url: True  # type: ignore[method-assign]  # markdown-it-py's documented hook
    return parser


_PARSER = _parser()


def render(text: str) -> str:
    """Sanitised HTML for a message's Markdown."""
    return nh3.clean(
        _PARSER.render(text),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        # markdown-it aligns table cells with ``style``; nothing else of CSS survives.
        filter_style_properties={"text-align"},
        link_rel="noopener noreferrer nofollow",
    )


def _cache_id(message_id) -> str:
    return f"v{RENDERER_VERSION}:{message_id}"


def render_messages(*, messages: Sequence[Message]) -> list[str]:
    """Each message's sanitised HTML, in order: one cache read for the whole window, one
    write for those rendered now. Without Redis every message is rendered."""
    ids = [_cache_id(message.id) for message in messages]
    found = cache.read_immutable(kind=cache.RENDERED, ids=ids)
    rendered = {
        cache_id: render(message.content)
        for cache_id, message in zip(ids, messages, strict=True)
        if cache_id not in found
    }
    if rendered:
        cache.store_immutable(kind=cache.RENDERED, values=rendered, timeout=RENDERED_TTL)
    return [found.get(cache_id) or rendered[cache_id] for cache_id in ids]


def clean_snippet(snippet: str) -> str:
    """A search snippet with nothing but ``<mark>`` left in it.

    The selector already builds snippets from escaped text; cleaning again means the
    template never trusts a string it did not sanitise itself.
    """
    return nh3.clean(snippet, tags={"mark"}, attributes={})


def forget_rendered(*, message_ids: Sequence) -> None:
    """Drop the cached HTML of messages that were deleted (an account that left): it is
    their content, and would otherwise linger for RENDERED_TTL."""
    cache.forget_immutable(kind=cache.RENDERED, ids=[_cache_id(m) for m in message_ids])
