"""The one door to the model, against a loopback fake of the Messages API."""

import pytest

from conversations import llm
from tests.fake_anthropic import Fail, Hang, Reply, Stream

SYSTEM = "You are a test."
MESSAGES = [{"role": "user", "content": "Hi there"}]


def test_request_carries_model_system_messages_and_max_tokens(claude):
    llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)

    (request,) = claude.requests
    assert request.path == "/v1/messages"
    assert request.body == {
        "model": "claude-test-model",
        "max_tokens": 321,
        "system": SYSTEM,
        "messages": MESSAGES,
    }


def test_request_sends_the_api_key(claude):
    llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)

    assert claude.requests[0].headers["x-api-key"] == "sk-ant-test-dummy"


def test_reply_returns_text_and_usage(claude):
    claude.answer(Reply("Hello!", input_tokens=40, output_tokens=3))

    completion = llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)

    assert completion.text == "Hello!"
    assert completion.provider == "anthropic"
    assert completion.metadata()["usage"] == {"input_tokens": 40, "output_tokens": 3}


def test_rate_limit_then_success_recovers(claude):
    claude.answer(Fail(429), Reply("after the wait"))

    completion = llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)

    assert completion.text == "after the wait"
    assert len(claude.requests) == 2


def test_server_error_every_time_is_transient_after_the_sdk_retries(claude):
    claude.default = Fail(500)

    with pytest.raises(llm.TransientLLMError):
        llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)
    assert len(claude.requests) == 3  # ANTHROPIC_MAX_RETRIES = 2


def test_overloaded_is_transient(claude):
    claude.default = Fail(529)

    with pytest.raises(llm.TransientLLMError):
        llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)


def test_bad_request_is_permanent_and_not_retried(claude):
    claude.default = Fail(400)

    with pytest.raises(llm.PermanentLLMError):
        llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)
    assert len(claude.requests) == 1


def test_timeout_is_transient(claude, settings):
    settings.ANTHROPIC_TIMEOUT = 0.3
    settings.ANTHROPIC_MAX_RETRIES = 0
    claude.default = Hang(2)

    with pytest.raises(llm.TransientLLMError):
        llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)


def test_streaming_yields_text_deltas_then_the_completion(claude):
    claude.answer(Stream(chunks=["Hel", "lo", "!"], input_tokens=21, output_tokens=4))

    events = list(llm.get_provider().stream_reply(system=SYSTEM, messages=MESSAGES))

    assert events[:-1] == ["Hel", "lo", "!"]
    completion = events[-1]
    assert completion.text == "Hello!"
    assert (completion.input_tokens, completion.output_tokens) == (21, 4)
    assert claude.requests[0].body["stream"] is True


def test_streaming_cut_short_is_transient(claude):
    claude.answer(Stream(chunks=["a", "b", "c"], fail_after=1))

    with pytest.raises(llm.TransientLLMError):
        list(llm.get_provider().stream_reply(system=SYSTEM, messages=MESSAGES))


def test_title_asks_for_a_short_title_with_the_title_token_limit(claude, settings):
    claude.answer(Reply("Planning a trip"))

    title = llm.get_provider().title(messages=MESSAGES).text

    assert title == "Planning a trip"
    body = claude.requests[0].body
    assert body["max_tokens"] == settings.NUMINA_TITLE_MAX_TOKENS
    assert "Hi there" in body["messages"][0]["content"]


def test_summary_prompt_carries_the_previous_summary_and_the_messages(claude):
    claude.answer(Reply("New summary"))

    summary = llm.get_provider().summarize(previous_summary="Old summary", messages=MESSAGES).text

    assert summary == "New summary"
    prompt = claude.requests[0].body["messages"][0]["content"]
    assert "Old summary" in prompt
    assert "User: Hi there" in prompt


def test_without_a_key_the_offline_provider_answers(offline):
    assert isinstance(llm.get_provider(), llm.OfflineProvider)


def test_offline_reply_says_the_assistant_is_offline(offline):
    completion = llm.get_provider().reply(system=SYSTEM, messages=MESSAGES)

    assert "offline" in completion.text
    assert completion.metadata()["provider"] == "offline"


def test_offline_reply_is_deterministic(offline):
    provider = llm.get_provider()

    first = provider.reply(system=SYSTEM, messages=MESSAGES)
    second = provider.reply(system=SYSTEM, messages=MESSAGES)

    assert first == second


def test_offline_stream_joins_to_the_offline_reply(offline):
    events = list(llm.get_provider().stream_reply(system=SYSTEM, messages=MESSAGES))

    assert "".join(events[:-1]) == events[-1].text == llm.OFFLINE_REPLY


def test_offline_title_comes_from_the_first_user_message(offline):
    messages = [
        {"role": "assistant", "content": "Welcome!"},
        {"role": "user", "content": "  How do I   bake sourdough bread at home?\nDetails…"},
    ]

    title = llm.get_provider().title(messages=messages).text

    assert title == "How do I bake sourdough bread at home? Details…"


def test_offline_title_is_shortened_at_a_word(offline):
    title = llm.get_provider().title(messages=[{"role": "user", "content": "word " * 40}]).text

    assert len(title) <= llm.OFFLINE_TITLE_CHARS
    assert title.endswith("word…")


@pytest.mark.parametrize(
    ("content", "title"),
    [
        pytest.param(
            "Can you explain what a **B-tree** is", "Can you explain what a B-tree is", id="bold"
        ),
        pytest.param("Why is `len()` _slow_ here?", "Why is len() slow here?", id="code, emphasis"),
        pytest.param(
            "```python\nprint(1 / 0)\n```\nWhy does this fail?",
            "Why does this fail?",
            id="a code fence is left out",
        ),
        pytest.param("```\nSELECT 1;\n```", "SELECT 1;", id="only code keeps its text"),
        pytest.param(
            "# Trip plan\n\n- see [Lisbon](https://example.com) first",
            "Trip plan see Lisbon first",
            id="heading, list, link",
        ),
        pytest.param("2 \\* 3 is not <b>6</b>", "2 * 3 is not <b>6</b>", id="escapes, no HTML"),
    ],
)
def test_offline_title_reads_the_messages_markdown_as_plain_text(offline, content, title):
    messages = [{"role": "user", "content": content}]

    assert llm.get_provider().title(messages=messages).text == title


def test_a_title_of_markdown_is_shortened_on_its_plain_words(offline):
    title = llm.title_from_messages([{"role": "user", "content": "**word** " * 40}])

    assert "*" not in title
    assert title.endswith("word…")
    assert len(title) <= llm.OFFLINE_TITLE_CHARS


def test_offline_summary_is_extractive(offline):
    messages = [
        {"role": "user", "content": "I want to learn Rust. I know Python already."},
        {"role": "assistant", "content": "Start with the book. It is free online."},
    ]

    summary = llm.get_provider().summarize(previous_summary="", messages=messages).text

    assert summary == "User: I want to learn Rust.\nAssistant: Start with the book."


def test_offline_summary_stays_bounded(offline):
    messages = [{"role": "user", "content": f"Point number {n}. More."} for n in range(500)]

    summary = llm.get_provider().summarize(previous_summary="", messages=messages).text

    assert len(summary) <= llm.OFFLINE_SUMMARY_CHARS
    assert "Point number 499" in summary


def test_token_estimate_counts_non_ascii_characters_one_each():
    assert llm.estimate_tokens("abcdefgh") == 2
    assert llm.estimate_tokens("日本語") == 3
    assert llm.estimate_tokens("") == 0
