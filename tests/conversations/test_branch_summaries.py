"""Context, titles and summaries follow the current branch (issue 13).

A summary covers the path down to one message and is used only on branches through it;
a conversation keeps its newest ten, so a switch back reuses one instead of asking the
model again. Every test runs against PostgreSQL; the model is the loopback fake
(``claude``, whose request log counts the calls) or the offline provider, whose
extractive summary quotes each message it covers (so a summary's text shows which
messages it stands for).
"""

import random
import re
import threading
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import services, tasks
from conversations.context import build_context, get_context
from conversations.models import Conversation, ConversationSummary, Message
from conversations.services import branch_summaries, summaries, titles
from tests.fake_anthropic import Gate, Reply

RECENT, THRESHOLD = 2, 4


@pytest.fixture(autouse=True)
def _small_windows(settings):
    """A summary is due once 4 messages sit before the 2 newest: small trees suffice."""
    settings.NUMINA_CONTEXT_RECENT_MESSAGES = RECENT
    settings.NUMINA_SUMMARY_THRESHOLD = THRESHOLD
    settings.NUMINA_SUMMARY_BATCH = 100


def role_at(depth):
    return "user" if depth % 2 else "assistant"


def grow(user, conversation, texts):
    """Messages under the current one, one after another (depth decides the role)."""
    conversation = Conversation.objects.get(pk=conversation.pk)
    depth = (
        Message.objects.get(pk=conversation.current_message_id).depth
        if conversation.current_message_id
        else 0
    )
    return services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[
            services.NewMessage(role=role_at(depth + n), content=text)
            for n, text in enumerate(texts, start=1)
        ],
    )


def answer_after(user, conversation, parent, text):
    """A new version after ``parent`` (an edit of its child): it becomes current."""
    return services.add_message(
        user=user,
        conversation_id=conversation.id,
        role=role_at(parent.depth + 1),
        content=text,
        parent_id=parent.id,
    ).message


def fresh(conversation):
    return Conversation.objects.get(pk=conversation.pk)


def summarize(user, conversation):
    return services.summarize_conversation(user=user, conversation_id=conversation.id)


def sent_texts(ctx):
    return ctx.system + "\n".join(message["content"] for message in ctx.messages)


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


@pytest.fixture
def branch_a(user, conversation):
    """Ten messages, "a1." … "a10.": one straight branch A."""
    return grow(user, conversation, [f"a{n}." for n in range(1, 11)])


# --- which summary a branch uses --------------------------------------------------------


def test_a_summary_of_branch_a_is_not_used_on_branch_b(user, conversation, branch_a, claude):
    claude.answer(Reply("Summary of A."))
    summarize(user, conversation)  # covers a1 … a8

    answer_after(user, conversation, branch_a[1], "b3.")  # an edit of a3
    on_b = build_context(conversation=fresh(conversation))
    on_a = build_context(conversation=fresh(conversation), leaf_id=branch_a[-1].id)

    assert fresh(conversation).summary == ""
    assert (on_b.summary, on_b.summarized, on_b.summarized_messages) == ("", False, 0)
    assert [m["content"] for m in on_b.messages] == ["a1.", "a2.", "b3."]
    assert (on_a.summary, on_a.summarized_messages, on_a.total_messages) == (
        "Summary of A.",
        8,
        10,
    )
    assert [m["content"] for m in on_a.messages][-2:] == ["a9.", "a10."]


def test_a_summary_before_the_branch_point_is_kept_on_the_new_branch(
    user, conversation, branch_a, claude
):
    claude.answer(Reply("Summary of A."))
    summarize(user, conversation)  # covers a1 … a8

    answer_after(user, conversation, branch_a[8], "b10.")  # an edit of a10: a9 is shared
    ctx = build_context(conversation=fresh(conversation))

    assert fresh(conversation).summary == "Summary of A."
    assert ctx.summary == "Summary of A."
    assert [m["content"] for m in ctx.messages] == ["a9.", "b10."]


def test_the_context_of_a_branch_never_carries_another_branchs_text(user, conversation, offline):
    """A random tree, summarized along the way: the context of every leaf, its summary
    included (the offline summary quotes what it covers), holds only its branch's text."""
    rng = random.Random(13)
    grow(user, conversation, [f"m{n}." for n in range(1, 9)])
    for n in range(9, 90):
        if rng.random() < 0.15:
            on_tree = list(Message.objects.filter(conversation=conversation))
            answer_after(user, conversation, rng.choice(on_tree), f"m{n}.")
        else:
            grow(user, conversation, [f"m{n}."])
        if n % 5 == 0:
            summarize(user, conversation)
    messages = {m.id: m for m in Message.objects.filter(conversation=conversation)}
    parents = {m.parent_id for m in messages.values()}
    leaves = [m for m in messages.values() if m.id not in parents]
    assert len(leaves) > 5
    summarized_somewhere = 0
    for leaf in leaves:
        path, node = set(), leaf
        while node is not None:
            path.add(node.content)
            node = messages.get(node.parent_id)

        ctx = build_context(conversation=fresh(conversation), leaf_id=leaf.id)

        assert set(re.findall(r"m\d+\.", sent_texts(ctx))) <= path
        assert ctx.total_messages == leaf.depth
        summarized_somewhere += ctx.summarized
    assert summarized_somewhere


# --- switching back reuses the branch's summary -----------------------------------------


def test_edit_then_switch_back_gives_exactly_the_old_context_without_asking_again(
    user, conversation, branch_a, claude
):
    claude.answer(Reply("Summary of A."), Reply("Summary of B."))
    summarize(user, conversation)
    before = get_context(user=user, conversation_id=conversation.id)

    answer_after(user, conversation, branch_a[1], "b3.")
    grow(user, conversation, [f"b{n}." for n in range(4, 12)])
    summarize(user, conversation)
    on_b = get_context(user=user, conversation_id=conversation.id)
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=branch_a[-1].id)
    after = get_context(user=user, conversation_id=conversation.id)
    summarize(user, conversation)  # nothing is due on A: no request

    assert on_b.summary == "Summary of B."
    assert "a3." not in sent_texts(on_b)
    assert fresh(conversation).current_message_id == branch_a[-1].id
    assert (after.system, after.messages, after.summary, after.summarized_messages) == (
        before.system,
        before.messages,
        before.summary,
        before.summarized_messages,
    )
    assert after.summary == "Summary of A."
    assert fresh(conversation).summary == "Summary of A."
    assert len(claude.requests) == 2  # one summary for A, one for B, none for the way back
    assert services.needs_summary(fresh(conversation)) is False


def test_switching_to_a_branch_without_a_summary_asks_for_one_with_the_next_reply(
    user, conversation, branch_a, offline, enqueued, django_capture_on_commit_callbacks
):
    services.rename_conversation(user=user, conversation_id=conversation.id, title="Named")
    summarize(user, conversation)
    answer_after(user, conversation, branch_a[1], "b3.")
    grow(user, conversation, [f"b{n}." for n in range(4, 10)])  # b3 … b9: 9 on the branch
    assert services.needs_summary(fresh(conversation)) is True
    enqueued.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.chat(user=user, conversation_id=conversation.id, message="b10?")

    assert enqueued == ["conversations.tasks.summarize_conversation", "memory.tasks.extract_memory"]
    summarize(user, conversation)
    shown = fresh(conversation)
    assert "User: b3." in shown.summary
    assert "a3." not in shown.summary
    assert ConversationSummary.objects.filter(conversation=conversation).count() == 2


def test_the_sweeper_finds_a_branch_switched_to_without_a_summary(
    user, conversation, branch_a, offline, settings
):
    settings.NUMINA_SWEEP_GRACE = 0
    summarize(user, conversation)
    answer_after(user, conversation, branch_a[1], "b3.")
    grow(user, conversation, [f"b{n}." for n in range(4, 10)])

    assert summaries.conversations_needing_summary(limit=10) == [conversation.id]
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=branch_a[-1].id)
    assert summaries.conversations_needing_summary(limit=10) == []


def test_summarize_sends_only_the_branchs_messages(user, conversation, branch_a, claude):
    answer_after(user, conversation, branch_a[1], "b3.")
    grow(user, conversation, [f"b{n}." for n in range(4, 12)])
    claude.answer(Reply("Summary of B."))

    summarize(user, conversation)

    prompt = claude.requests[0].body["messages"][0]["content"]
    assert "b3." in prompt
    assert "b9." in prompt
    assert not re.search(r"\ba\d+\.", prompt.replace("a1.", "").replace("a2.", ""))
    assert fresh(conversation).summary_covers_seq == Message.objects.get(content="b9.").seq


def test_a_conversation_keeps_its_ten_newest_summaries(user, conversation, offline, settings):
    settings.NUMINA_CONTEXT_RECENT_MESSAGES = 1
    settings.NUMINA_SUMMARY_THRESHOLD = 1
    settings.NUMINA_SUMMARY_BATCH = 1
    grow(user, conversation, [f"m{n}." for n in range(1, 15)])

    for _ in range(13):
        summarize(user, conversation)

    kept = ConversationSummary.objects.filter(conversation=conversation)
    assert branch_summaries.KEPT_PER_CONVERSATION == 10
    assert sorted(kept.values_list("depth", flat=True)) == list(range(4, 14))
    assert fresh(conversation).summary_covers_seq == 13


# --- the conversation's copy: imports, legacy summaries, the cache ----------------------


def test_an_imported_summary_survives_a_switch_away_and_back(user, conversation, branch_a, claude):
    # What an import writes: the copy on the row alone, no kept summary.
    Conversation.objects.filter(pk=conversation.pk).update(
        summary="Imported.", summary_covers_seq=6
    )
    answer_after(user, conversation, branch_a[1], "b3.")
    assert fresh(conversation).summary == ""

    services.switch_branch(user=user, conversation_id=conversation.id, message_id=branch_a[-1].id)
    ctx = build_context(conversation=fresh(conversation))

    assert (fresh(conversation).summary, fresh(conversation).summary_covers_seq) == (
        "Imported.",
        6,
    )
    assert (ctx.summary, ctx.summarized_messages) == ("Imported.", 6)
    assert claude.requests == []


def test_a_summary_of_no_message_applies_on_every_branch(user, conversation, branch_a, offline):
    # A legacy store's summary covers none of the stored messages.
    Conversation.objects.filter(pk=conversation.pk).update(summary="Legacy.", summary_covers_seq=0)

    answer_after(user, conversation, branch_a[1], "b3.")
    on_b = build_context(conversation=fresh(conversation))
    summarize(user, conversation)  # nothing due on b: 3 messages
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=branch_a[-1].id)
    summarize(user, conversation)  # A's, which starts from the legacy summary
    services.switch_branch(
        user=user, conversation_id=conversation.id, message_id=Message.objects.get(content="b3.").id
    )

    assert (on_b.summary, on_b.summarized_messages) == ("Legacy.", 0)
    assert fresh(conversation).summary == "Legacy."
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=branch_a[-1].id)
    assert fresh(conversation).summary.startswith("Legacy.\nUser: a1.")


def test_the_cached_context_follows_a_branch_switch(user, conversation, branch_a):
    answer_after(user, conversation, branch_a[4], "b6.")
    on_b = get_context(user=user, conversation_id=conversation.id)
    assert get_context(user=user, conversation_id=conversation.id).cached is True
    before = fresh(conversation).change_seq

    services.switch_branch(user=user, conversation_id=conversation.id, message_id=branch_a[5].id)
    on_a = get_context(user=user, conversation_id=conversation.id)
    services.switch_branch(
        user=user, conversation_id=conversation.id, message_id=Message.objects.get(content="b6.").id
    )
    on_b_again = get_context(user=user, conversation_id=conversation.id)

    assert fresh(conversation).change_seq > before
    assert (on_a.cached, on_b_again.cached) == (False, False)
    assert on_a.messages[-1]["content"] == "a10."
    assert on_b_again.messages == on_b.messages
    assert on_b.messages[-1]["content"] == "b6."


# --- a summary written while the user moved on ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_summary_finished_after_a_switch_is_kept_for_its_branch(user, claude):
    conversation = services.create_conversation(user=user)
    branch_a = grow(user, conversation, [f"a{n}." for n in range(1, 11)])
    gate = Gate(Reply("Summary of A."))
    claude.answer(gate)

    def summarize_and_close():
        try:
            tasks.summarize_conversation.apply(args=[str(conversation.id)])
        finally:
            connection.close()

    thread = threading.Thread(target=summarize_and_close)
    thread.start()
    assert gate.entered.wait(10)
    answer_after(user, conversation, branch_a[1], "b3.")
    gate.release.set()
    thread.join(20)

    assert fresh(conversation).summary == ""  # not B's: it covers a3 … a8
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=branch_a[-1].id)
    assert fresh(conversation).summary == "Summary of A."
    assert len(claude.requests) == 1


# --- titles -----------------------------------------------------------------------------


def test_a_title_is_drawn_from_the_current_branchs_first_messages(
    user, conversation, claude, settings
):
    first = grow(user, conversation, ["a1.", "a2.", "a3.", "a4."])
    answer_after(user, conversation, first[1], "b3.")
    grow(user, conversation, ["b4."])
    claude.answer(Reply("Branch B"))

    titles.generate_title(user=user, conversation_id=conversation.id)

    sent = str(claude.requests[0].body["messages"])
    assert all(text in sent for text in ("a1.", "a2.", "b3.", "b4."))
    assert "a3." not in sent
    assert "a4." not in sent
    assert fresh(conversation).title == "Branch B"


# --- a fixed number of queries however deep ---------------------------------------------


def tree_of_depth(user, depth):
    """A straight chat of ``depth`` messages with two edits near its end and one in the
    middle, and summaries kept along it."""
    conversation = services.create_conversation(user=user)
    line = grow(user, conversation, [f"m{n} " * 30 for n in range(1, depth + 1)])
    answer_after(user, conversation, line[depth // 2], "edit in the middle")
    answer_after(user, conversation, line[-3], "edit near the end")
    services.switch_branch(user=user, conversation_id=conversation.id, message_id=line[-1].id)
    summarize(user, conversation)
    return fresh(conversation)


def queries_of(call):
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries)


def test_the_context_costs_the_same_queries_at_depth_10_and_at_depth_1000(
    user, offline, settings, api
):
    settings.NUMINA_SUMMARY_BATCH = 2_000
    shallow, deep = tree_of_depth(user, 10), tree_of_depth(user, 1_000)
    assert (shallow.summary != "", deep.summary != "") == (True, True)
    assert ConversationSummary.objects.filter(conversation=deep).exists()

    built = [queries_of(lambda c=c: build_context(conversation=c)) for c in (shallow, deep)]
    served = [
        queries_of(lambda c=c: api.get(f"/api/v1/conversations/{c.id}/context/"))
        for c in (shallow, deep)
    ]

    assert built == [3, 3]  # the branch's summary, the lengths, the contents
    # The token with its user, the conversation, the user's memory, then the same three.
    assert served == [6, 6]


# --- the migration of the stored summaries ----------------------------------------------


def test_0008_keeps_each_stored_summary_as_the_summary_of_its_message(user, other_user):
    migration = import_module("conversations.migrations.0008_kept_summaries")
    covered = services.create_conversation(user=user)
    grow(user, covered, [f"m{n}." for n in range(1, 8)])
    legacy = services.create_conversation(user=other_user)
    grow(other_user, legacy, ["only."])
    broken = services.create_conversation(user=user)
    grow(user, broken, ["one."])
    untouched = services.create_conversation(user=user)
    Conversation.objects.filter(pk=covered.pk).update(summary="Five.", summary_covers_seq=5)
    Conversation.objects.filter(pk=legacy.pk).update(summary="Legacy.", summary_covers_seq=0)
    Conversation.objects.filter(pk=broken.pk).update(summary="Gone.", summary_covers_seq=9)
    editor = SimpleNamespace(connection=connection)

    migration.keep_existing_summaries(django_apps, editor)
    migration.keep_existing_summaries(django_apps, editor)  # a rerun adds nothing

    kept = {
        row.conversation_id: (row.covers_id, row.depth, row.text)
        for row in ConversationSummary.objects.all()
    }
    assert kept == {
        covered.id: (Message.objects.get(conversation=covered, seq=5).id, 5, "Five."),
        legacy.id: (None, 0, "Legacy."),
    }
    assert untouched.id not in kept
    assert broken.id not in kept
    ctx = build_context(conversation=fresh(covered))
    assert (ctx.summary, ctx.summarized_messages) == ("Five.", 5)
