"""The import readers (conversations/sources/) on their own: no database, no request."""

from datetime import UTC, datetime

from conversations import sources
from conversations.sources.common import Node, SourceMessage, from_epoch, title_of, walk


def message(text: str, *, at: float | None = None) -> SourceMessage:
    return SourceMessage(role="user", content=text, created_at=from_epoch(at))


def test_walk_puts_parents_first_and_drops_a_cycle():
    nodes = {
        "b": Node(parent="a", message=message("b"), order=(1,)),
        "a": Node(parent=None, message=message("a"), order=(0,)),
        # x and y point at each other: no root reaches them.
        "x": Node(parent="y", message=message("x")),
        "y": Node(parent="x", message=message("y")),
    }

    messages, current = walk(nodes, current="b", default_time=None)

    assert [(m.content, m.parent) for m in messages] == [("a", None), ("b", 0)]
    assert current == 1


def test_walk_of_a_very_deep_chain_needs_no_recursion():
    depth = 50_000
    nodes = {
        str(n): Node(parent=str(n - 1) if n else None, message=message(str(n)))
        for n in range(depth)
    }

    messages, current = walk(nodes, current=str(depth - 1), default_time=None)

    assert len(messages) == depth
    assert messages[-1].parent == depth - 2
    assert current == depth - 1


def test_a_skipped_current_node_shows_its_nearest_kept_ancestor():
    nodes = {
        "a": Node(parent=None, message=message("a", at=10)),
        "hidden": Node(parent="a", message=None),
    }

    _messages, current = walk(nodes, current="hidden", default_time=None)

    assert current == 0


def test_times_in_seconds_and_in_milliseconds():
    assert from_epoch(1717236000) == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert from_epoch(1717236000000) == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert from_epoch(None) is None
    assert from_epoch("soon") is None
    assert from_epoch(True) is None
    assert from_epoch(1e300) is None


def test_titles_are_cut_to_the_bound_and_nul_is_dropped(settings):
    settings.NUMINA_TITLE_MAX_LENGTH = 5
    assert title_of("  Lisbon trip  ") == "Lisbo"
    assert title_of("a\x00b") == "ab"
    assert title_of(None) == ""


def test_the_format_is_told_by_content():
    upload = sources.read_upload(b'[{"uuid": "u", "chat_messages": []}]')
    assert (upload.format, upload.count) == ("claude", 1)
    upload = sources.read_upload(b'  {"id": "c", "mapping": {}}')
    assert (upload.format, upload.count) == ("chatgpt", 1)
    upload = sources.read_upload(b'[{"id": "w", "chat": {"messages": []}}]')
    assert upload.format == "openwebui"
