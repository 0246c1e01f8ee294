"""Markdown for messages, rendered and then sanitised, for the browser UI.

Python-Markdown passes raw HTML through, so its output is never trusted: nh3 (ammonia)
keeps only the tags and attributes below, only http(s)/mailto links, and drops every
event handler, so ``<script>``, ``<img onerror>`` and ``javascript:`` links never reach
the page whoever wrote the message — the user or the model.
"""

from __future__ import annotations

import markdown as markdown_lib
import nh3

EXTENSIONS = ["fenced_code", "tables", "sane_lists", "nl2br"]

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "sup", "sub", "kbd",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}


def render(text: str) -> str:
    """Sanitised HTML for a message's Markdown."""
    html = markdown_lib.markdown(text, extensions=EXTENSIONS, output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def clean_snippet(snippet: str) -> str:
    """A search snippet with nothing but ``<mark>`` left in it.

    The selector already builds snippets from escaped text; cleaning again means the
    template never trusts a string it did not sanitise itself.
    """
    return nh3.clean(snippet, tags={"mark"}, attributes={})
