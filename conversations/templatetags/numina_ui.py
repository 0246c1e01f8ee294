"""Template filters of the browser UI: safe Markdown, safe snippets, relative times."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from .. import rendering

register = template.Library()

MARKUP = re.compile(r"[*`#>~]+|^\s*[-+]\s+", re.MULTILINE)


@register.filter
def render_markdown(text: str) -> SafeString:
    # Safe because rendering.render sanitises with nh3: the one place user or model text
    # becomes markup.
    return mark_safe(rendering.render(text))  # noqa: S308


@register.filter
def snippet(text: str) -> SafeString:
    # clean_snippet escapes everything but the <mark> that ts_headline adds.
    return mark_safe(rendering.clean_snippet(text))  # noqa: S308


@register.filter
def plain(text: str) -> str:
    """Markdown's markup characters dropped, for one-line previews."""
    return MARKUP.sub("", text or "").strip()


@register.filter
def ago(moment: datetime | None) -> str:
    """A short relative time: "now", "5m", "3h", "2d", then the date."""
    if moment is None:
        return ""
    seconds = (timezone.now() - moment).total_seconds()
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)}d"
    local = timezone.localtime(moment)
    if local.year == timezone.localtime().year:
        return local.strftime("%b %-d")
    return local.strftime("%b %-d, %Y")
