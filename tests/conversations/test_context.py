"""The context for the next model call: valid, within the budget, newest first."""

import random

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conversations import context, llm, services
from conversations.context import LEAD_IN, Turn, assemble_context, build_context, get_context
from conversations.models import Conversation


def user(text):
    return Turn("user", text)


def assistant(text):
    return Turn("assistant", text)


def assert_valid_request(ctx):
    """What the Messages API accepts: user first, alternating, non-empty, no system role."""
    assert ctx.messages, "a request needs at least one message"
    assert ctx.messages[0]["role"] == "user"
    for before, after in zip(ctx.messages, ctx.messages[1:], strict=False):
        assert before["role"] != after["role"]
    for message in ctx.messages:
        assert set(message) == {"role", "content"}
        assert message["role"] in {"user", "assistant"}
        assert isinstance(message["content"], str)
        assert message["content"].strip()
    assert isinstance(ctx.system, str)


def history_tokens(ctx):
    notes = context.NOTES_HEADER + "\n\n".join(ctx.notes) if ctx.notes else ""
    return llm.estimate_message_tokens(ctx.messages) + llm.estimate_tokens(notes)


# --- the rule, without the database ---------------------------------------------------


def test_system_prompt_carries_the_summary():
    ctx = assemble_context(history=[user("Hi")], summary="They like tea.")

    assert "They like tea." in ctx.system
    assert ctx.system.startswith("You are Claude")


def test_history_without_a_summary_has_the_plain_system_prompt(settings):
    ctx = assemble_context(history=[user("Hi")])

    assert ctx.system == settings.NUMINA_SYSTEM_PROMPT


def test_short_history_is_sent_whole_and_verbatim():
    history = [user("Hi"), assistant("Hello!"), user("How are you?")]

    ctx = assemble_context(history=history)

    assert ctx.messages == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]


def test_long_history_keeps_the_newest_messages_within_the_budget():
    history = [Turn("user" if n % 2 == 0 else "assistant", f"message {n} " * 50) for n in range(60)]

    ctx = assemble_context(history=history, budget=1000)

    assert history_tokens(ctx) <= 1000
    assert ctx.messages[-1]["content"] == history[-1].content
    assert len(ctx.messages) < len(history)


def test_the_last_few_turns_are_verbatim_when_they_fit():
    history = [Turn("user" if n % 2 == 0 else "assistant", f"turn {n}") for n in range(20)]

    ctx = assemble_context(history=history, budget=2000, keep_recent=6)

    assert [m["content"] for m in ctx.messages[-6:]] == [t.content for t in history[-6:]]


def test_history_opening_with_the_assistant_starts_with_a_user_lead_in():
    ctx = assemble_context(history=[assistant("Welcome!"), user("Thanks")])

    assert ctx.messages[0] == {"role": "user", "content": LEAD_IN}
    assert ctx.messages[1] == {"role": "assistant", "content": "Welcome!"}


def test_adjacent_turns_of_one_role_are_merged():
    ctx = assemble_context(history=[user("one"), user("two"), assistant("a"), assistant("b")])

    assert ctx.messages == [
        {"role": "user", "content": "one\n\ntwo"},
        {"role": "assistant", "content": "a\n\nb"},
    ]


def test_empty_and_blank_messages_are_left_out():
    ctx = assemble_context(history=[user("hi"), assistant(""), assistant("   "), user("there")])

    assert ctx.messages == [{"role": "user", "content": "hi\n\nthere"}]


def test_system_messages_go_into_the_system_prompt_only():
    ctx = assemble_context(history=[user("hi"), Turn("system", "Answer in French."), user("ok")])

    assert "Answer in French." in ctx.system
    assert all(m["role"] != "system" for m in ctx.messages)
    assert ctx.messages == [{"role": "user", "content": "hi\n\nok"}]


def test_a_huge_newest_message_is_shortened_keeping_its_head_and_tail():
    huge = "START " + "x" * 200_000 + " END"

    ctx = assemble_context(history=[user(huge)], budget=500)

    (message,) = ctx.messages
    assert message["content"].startswith("START ")
    assert message["content"].endswith(" END")
    assert "characters left out" in message["content"]
    assert history_tokens(ctx) <= 500


def test_a_history_with_nothing_to_send_has_no_messages():
    ctx = assemble_context(history=[Turn("system", "Be brief."), assistant("  ")])

    assert ctx.messages == []


def test_a_long_imported_summary_is_capped():
    ctx = assemble_context(history=[user("hi")], summary="word " * 20_000)

    assert llm.estimate_tokens(ctx.summary) <= context.SUMMARY_MAX_TOKENS


def test_estimated_tokens_counts_the_system_prompt_and_the_messages():
    ctx = assemble_context(history=[user("Hi"), assistant("Hello")], summary="S")

    assert ctx.estimated_tokens == llm.estimate_tokens(ctx.system) + llm.estimate_message_tokens(
        ctx.messages
    )


roles = st.sampled_from(["user", "assistant", "system"])
contents = st.one_of(
    st.text(max_size=300),
    st.just(""),
    st.text(alphabet=" \n\t", max_size=5),
    # Huge messages, built cheaply: one character repeated many times.
    st.builds(lambda char, size: char * size, st.characters(), st.integers(2_000, 120_000)),
)
histories = st.lists(st.builds(Turn, roles, contents), max_size=40)


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, budget=st.integers(100, 5_000), keep_recent=st.integers(0, 8))
def test_context_is_always_a_valid_request_within_the_budget(history, budget, keep_recent):
    ctx = assemble_context(history=history, budget=budget, keep_recent=keep_recent)

    assert history_tokens(ctx) <= budget
    assert ctx.history_tokens <= budget
    sendable = [t for t in history if t.role != "system" and t.content.strip()]
    if sendable:
        assert_valid_request(ctx)
        newest = sendable[-1].content
        if llm.estimate_tokens(newest) + 60 <= budget:
            assert ctx.messages[-1]["content"].endswith(newest)
    else:
        assert ctx.messages == []


# --- from the database ----------------------------------------------------------------


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


def add(user, conversation, role, content):
    return services.add_message(
        user=user, conversation_id=conversation.id, role=role, content=content
    ).message


def test_build_context_sends_only_the_messages_after_the_summary(user, conversation):
    for n in range(1, 7):
        add(user, conversation, "user" if n % 2 else "assistant", f"message {n}")
    Conversation.objects.filter(pk=conversation.pk).update(summary="Earlier.", summary_covers_seq=3)
    conversation.refresh_from_db()

    ctx = build_context(conversation=conversation)

    assert [m["content"] for m in ctx.messages] == [LEAD_IN, "message 4", "message 5", "message 6"]
    assert "Earlier." in ctx.system
    assert ctx.summarized is True
    assert (ctx.total_messages, ctx.summarized_messages) == (6, 3)


def test_build_context_runs_three_queries_however_long_the_conversation(
    user, conversation, django_assert_num_queries
):
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[
            services.NewMessage(role="user" if n % 2 else "assistant", content=f"m{n} " * 100)
            for n in range(300)
        ],
    )
    conversation.refresh_from_db()

    with django_assert_num_queries(3):  # the branch's summary, lengths, contents
        ctx = build_context(conversation=conversation, budget=2000)

    assert history_tokens(ctx) <= 2000
    assert ctx.messages[-1]["content"] == "m299 " * 100


def test_get_context_is_cached_until_the_conversation_changes(user, conversation):
    add(user, conversation, "user", "Hi")

    first = get_context(user=user, conversation_id=conversation.id)
    second = get_context(user=user, conversation_id=conversation.id)
    add(user, conversation, "assistant", "Hello")
    third = get_context(user=user, conversation_id=conversation.id)

    assert (first.cached, second.cached, third.cached) == (False, True, False)
    assert len(third.messages) == 2


def test_get_context_of_another_users_conversation_does_not_exist(other_user, conversation):
    with pytest.raises(Conversation.DoesNotExist):
        get_context(user=other_user, conversation_id=conversation.id)


def test_get_context_of_a_malformed_id_does_not_exist(user):
    with pytest.raises(Conversation.DoesNotExist):
        get_context(user=user, conversation_id="not-a-uuid")


@pytest.mark.parametrize("budget", [100, 700, 2000, 9000])
def test_build_context_loads_all_it_needs_to_match_the_whole_history(user, conversation, budget):
    rng = random.Random(budget)
    sizes = [rng.choice([1, 40, 400, 4000, 30_000]) for _ in range(80)]
    services.add_messages(
        user=user,
        conversation_id=conversation.id,
        messages=[
            services.NewMessage(
                role=rng.choice(["user", "assistant", "system"]), content="é" * size
            )
            for size in sizes
        ],
    )
    conversation.refresh_from_db()
    everything = [Turn(m.role, m.content) for m in conversation.messages.order_by("seq")]

    from_database = build_context(conversation=conversation, budget=budget)
    from_everything = assemble_context(
        history=everything, budget=budget, total_messages=80, summarized_messages=0
    )

    assert from_database == from_everything


def test_build_context_is_not_misled_by_large_system_messages(user, conversation):
    messages = [services.NewMessage(role="user", content=f"question {n}") for n in range(10)]
    messages.append(services.NewMessage(role="system", content="a" * 30_000))
    services.add_messages(user=user, conversation_id=conversation.id, messages=messages)
    conversation.refresh_from_db()
    everything = [Turn(m.role, m.content) for m in conversation.messages.order_by("seq")]

    from_database = build_context(conversation=conversation, budget=2000)

    assert from_database == assemble_context(history=everything, budget=2000, total_messages=11)
    assert "question 0" in from_database.messages[0]["content"]
