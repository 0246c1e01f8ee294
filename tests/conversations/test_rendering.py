"""Message Markdown: linear in the message for every input, sanitised, cached per message."""

import multiprocessing
import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from conversations import rendering
from tests.conversations.test_views import make_chat

SIZE = 100_000
# Rendering 100 KB costs well under a second or two here; a quadratic parser needs minutes
# to hours ("[" * 10_000 alone took 9 s before). Two orders of magnitude of headroom.
LIMIT_SECONDS = 15.0
CLOSED_PORT_CACHE = "redis://127.0.0.1:1/0"  # nothing listens on port 1

PATHOLOGICAL = {
    "brackets": "[" * SIZE,
    "images": "![" * (SIZE // 2),
    "empty_links": "[](" * (SIZE // 3),
    "unclosed_links": "[a](" * (SIZE // 4),
    "nested_emphasis": "*" * SIZE,
    "mixed_emphasis": "*_" * (SIZE // 2),
    "emphasis_closers": "a**" * (SIZE // 3),
    "brackets_and_emphasis": "[*_`" * (SIZE // 4),
    "less_than": "<" * SIZE,
    "autolinks": "<a" * (SIZE // 2),
    "backticks": "`" * SIZE,
    "backtick_runs": "".join("`" * n + "a" for n in range(1, 500))[:SIZE],
    "nested_lists": "".join("  " * (n % 200) + "- a\n" for n in range(SIZE // 200)),
    "blockquotes": ">" * SIZE,
    "long_link_reference": "[a]: " + "x" * SIZE + "\n\n[a]",
    "link_references": "".join(f"[r{n}]: http://e.x/{n}\n" for n in range(SIZE // 20)) + "[r1]",
    "backslashes": "\\" * SIZE,
    "line_breaks": "a\n" * (SIZE // 2),
    "table_rows": "|a|b|\n|-|-|\n" + "|c|d|\n" * (SIZE // 6),
}


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def _render_in_child(text: str) -> None:
    rendering.render(text)


@pytest.mark.parametrize("text", PATHOLOGICAL.values(), ids=PATHOLOGICAL.keys())
def test_markdown_render_is_linear_in_pathological_input(text):
    # In a child process, so a parser that goes quadratic is stopped at the limit rather
    # than holding the suite for hours.
    child = multiprocessing.get_context("fork").Process(target=_render_in_child, args=(text,))
    started = time.monotonic()
    child.start()
    child.join(LIMIT_SECONDS)
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0, f"not rendered within {LIMIT_SECONDS} s"
    assert time.monotonic() - started < LIMIT_SECONDS


def test_markdown_render_keeps_code_tables_and_safe_links_only():
    html = rendering.render(
        "```python\nprint(1)\n```\n\n| a | b |\n|:-|-:|\n| 1 | 2 |\n\n"
        "[safe](https://example.com) [bad](javascript:alert(1)) ~~gone~~\n"
        "<img src=x onerror=alert(2)><script>alert(3)</script>"
    )
    assert '<pre><code class="language-python">print(1)' in html
    assert '<td style="text-align:left">1</td>' in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">safe</a>' in html
    assert "javascript:" not in html
    assert "<s>gone</s>" in html
    assert "onerror" not in html
    assert "alert(3)" not in html


@pytest.mark.django_db
def test_rendered_html_is_cached_per_message_and_renderer_version(user):
    chat = make_chat(user, "cached", ["**once**"])
    message = chat.messages.get()
    assert rendering.render_messages(messages=[message]) == ["<p><strong>once</strong></p>\n"]
    key = f"entry:{rendering.cache.RENDERED}:v{rendering.RENDERER_VERSION}:{message.id}"
    assert cache.get(key) == "<p><strong>once</strong></p>\n"
    cache.set(key, "<p>from the cache</p>")
    assert rendering.render_messages(messages=[message]) == ["<p>from the cache</p>"]


@pytest.mark.django_db
def test_chat_page_renders_messages_while_redis_is_unreachable(browser, user, settings):
    chat = make_chat(user, "down", ["**bold** while down"])
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": CLOSED_PORT_CACHE},
    }
    newest = browser.get(reverse("chat", args=[chat.id])).content.decode()
    older = browser.get(reverse("chat", args=[chat.id]), {"before": 99}).content.decode()
    assert "<strong>bold</strong> while down" in newest
    assert "<strong>bold</strong> while down" in older
