"""Memory across conversations against the loopback Messages API: what the user says in
one conversation is extracted (a forced tool call, validated), kept once, corrected in
place, and in the next conversation's context and the request the model receives;
deleted, it is gone from the next request; off, nothing is extracted nor sent."""

import logging

import pytest

from accounts.models import User
from conversations import followups, services
from memory import extraction, tasks
from memory import services as memory_services
from memory.models import ExtractionMark, MemoryItem
from tests.fake_anthropic import Fail, Reply, ToolUse

pytestmark = pytest.mark.django_db

ADA = "My name is Ada, I am a marine biologist, I prefer metric units."
ADA_FACTS = {
    "facts": [
        {"kind": "name", "subject": "name", "content": "Ada"},
        {"kind": "role", "subject": "role", "content": "marine biologist"},
        {"kind": "preference", "subject": "units", "content": "prefers metric units"},
    ]
}


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(tasks.extract_memory, "max_retries", 2)


def chat(user, message, conversation=None):
    result = services.chat(
        user=user, message=message, conversation_id=conversation.id if conversation else None
    )
    return result.conversation


def extract(conversation):
    return tasks.extract_memory.apply(args=[str(conversation.id)]).result


def tool_requests(claude):
    return [body for body in claude.bodies if "tools" in body]


def chat_requests(claude):
    return [body for body in claude.bodies if "tools" not in body]


def kept(user) -> set[tuple[str, str]]:
    return set(MemoryItem.objects.filter(owner=user).values_list("kind", "content"))


def test_facts_told_in_one_conversation_reach_the_model_in_the_next(user, claude, api):
    claude.answer_tools(ToolUse(ADA_FACTS))
    first = chat(user, ADA)

    assert extract(first) == 3

    # The extraction asked the model with the tool forced, about the user's words.
    (asked,) = tool_requests(claude)
    assert asked["tool_choice"] == {"type": "tool", "name": "record_memory"}
    assert asked["tools"][0]["name"] == "record_memory"
    assert ADA in asked["messages"][0]["content"]
    assert kept(user) == {
        ("name", "Ada"),
        ("role", "marine biologist"),
        ("preference", "prefers metric units"),
    }
    # A new conversation: its context answer and the model's request carry them.
    second = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=second.id, role="user", content="Hi")
    answer = api.get(f"/api/v1/conversations/{second.id}/context/").json()
    assert {(item["kind"], item["content"]) for item in answer["memory"]} == kept(user)
    assert "What you know about the user" in answer["system"]
    chat(user, "Do you remember me?", second)
    system = chat_requests(claude)[-1]["system"]
    assert "What you know about the user" in system
    for fact in ("- Name: Ada", "- Role: marine biologist", "- Preference: prefers metric units"):
        assert fact in system


def test_a_correction_replaces_the_name_instead_of_adding_one(user, claude):
    claude.answer_tools(
        ToolUse(ADA_FACTS),
        ToolUse({"facts": [{"kind": "name", "subject": "name", "content": "Adda"}]}),
    )
    conversation = chat(user, ADA)
    extract(conversation)
    chat(user, "Actually, call me Adda.", conversation)

    assert extract(conversation) == 1

    names = list(
        MemoryItem.objects.filter(owner=user, kind="name").values_list("content", flat=True)
    )
    assert names == ["Adda"]
    # Only the turn since the last run was sent.
    assert "Actually, call me Adda." in tool_requests(claude)[-1]["messages"][0]["content"]
    assert ADA not in tool_requests(claude)[-1]["messages"][0]["content"]
    chat(user, "Hello again", services.create_conversation(user=user))
    system = chat_requests(claude)[-1]["system"]
    assert "- Name: Adda" in system
    assert "- Name: Ada\n" not in system + "\n"


def test_deleting_an_item_removes_it_from_the_next_model_request(user, claude, api):
    claude.answer_tools(ToolUse(ADA_FACTS))
    conversation = chat(user, ADA)
    extract(conversation)
    other = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=other.id, role="user", content="Hi")
    context_url = f"/api/v1/conversations/{other.id}/context/"
    api.get(context_url)
    assert api.get(context_url)["X-Cache"] == "hit"  # the context is cached ...
    name = MemoryItem.objects.get(owner=user, kind="name")

    assert api.delete(f"/api/v1/memory/{name.id}/").status_code == 204

    # ... and the deletion is in the very next one, cache or not.
    answer = api.get(context_url)
    assert answer["X-Cache"] == "miss"
    assert "Ada" not in {item["content"] for item in answer.json()["memory"]}
    assert "Name: Ada" not in answer.json()["system"]
    chat(user, "And now?", other)
    system = chat_requests(claude)[-1]["system"]
    assert "Name: Ada" not in system
    assert "- Role: marine biologist" in system


def test_memory_off_extracts_nothing_and_sends_nothing(user, claude, api):
    claude.answer_tools(ToolUse(ADA_FACTS))
    conversation = chat(user, ADA)
    extract(conversation)
    assert api.patch("/api/v1/me/settings/", {"memory_enabled": False}, format="json").json() == {
        "memory_enabled": False
    }
    user = User.objects.get(pk=user.pk)
    asked_before = len(tool_requests(claude))

    chat(user, "I love sailing.", conversation)
    assert extract(conversation) == 0
    chat(user, "Do you remember me?", services.create_conversation(user=user))

    assert len(tool_requests(claude)) == asked_before  # the model was not asked
    assert "What you know about the user" not in chat_requests(claude)[-1]["system"]
    other = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=other.id, role="user", content="Hi")
    assert api.get(f"/api/v1/conversations/{other.id}/context/").json()["memory"] == []
    assert ("interest", "sailing") not in kept(user)


def test_memory_off_enqueues_no_extraction(
    user, offline, enqueued, django_capture_on_commit_callbacks
):
    memory_services.set_memory_enabled(user=user, enabled=False)
    with django_capture_on_commit_callbacks(execute=True):
        chat(user, ADA)
    assert "memory.tasks.extract_memory" not in enqueued


def test_the_task_run_twice_stores_each_fact_once(user, claude):
    claude.tool_default = ToolUse(ADA_FACTS)
    conversation = chat(user, ADA)

    assert extract(conversation) == 3
    assert extract(conversation) is not None  # nothing new: no model call, nothing stored
    ExtractionMark.objects.filter(conversation=conversation).update(seq=0)  # a redelivery
    assert extract(conversation) == 0

    assert MemoryItem.objects.filter(owner=user).count() == 3
    assert len(tool_requests(claude)) == 2


@pytest.mark.parametrize(
    "answer",
    [
        ToolUse({"facts": [{"kind": "shoe size", "subject": "feet", "content": "44"}]}),
        ToolUse({"facts": [{"kind": "name", "subject": "name", "content": "   "}]}),
        ToolUse({"facts": [{"kind": "fact", "subject": "x", "content": "y" * 501}]}),
        ToolUse({"facts": "Ada"}),
        ToolUse(["not", "an", "object"]),
        ToolUse({"facts": [{"kind": "fact", "content": f"f{n}"} for n in range(21)]}),
        ToolUse(ADA_FACTS, name="some_other_tool"),
        Reply("My name is Ada, I think."),
    ],
)
def test_a_model_answer_that_is_not_valid_structured_output_is_logged_and_ignored(
    user, claude, caplog, answer
):
    claude.answer_tools(answer)
    conversation = chat(user, ADA)

    with caplog.at_level(logging.WARNING, logger="memory.services"):
        assert extract(conversation) == 0

    assert not MemoryItem.objects.exists()
    assert "ignored an invalid answer" in caplog.text
    # Read, though: the same turns are not sent again.
    assert ExtractionMark.objects.get(conversation=conversation).seq == 1


def test_transient_model_errors_are_retried(user, claude, fast_retries):
    claude.answer_tools(Fail(529), Fail(503), ToolUse(ADA_FACTS))
    conversation = chat(user, ADA)

    assert extract(conversation) == 3
    assert len(tool_requests(claude)) == 3


def test_a_permanent_model_error_is_dropped_without_retry(user, claude, fast_retries):
    claude.answer_tools(Fail(400))
    conversation = chat(user, ADA)

    assert extract(conversation) is None
    assert len(tool_requests(claude)) == 1
    assert not MemoryItem.objects.exists()
    # Not marked read: the next reply's run tries these turns again.
    assert not ExtractionMark.objects.filter(conversation=conversation).exists()


def test_transient_errors_every_time_are_dropped_after_the_last_try(user, claude, fast_retries):
    claude.tool_default = Fail(503)
    conversation = chat(user, ADA)

    assert extract(conversation) is None
    assert len(tool_requests(claude)) == 3


def test_extraction_never_replaces_what_the_user_wrote(user, claude):
    mine = memory_services.create_item(user=user, kind="name", content="Ada Lovelace")
    claude.answer_tools(
        ToolUse({"facts": [{"kind": "name", "subject": "name", "content": "Adda"}]})
    )
    conversation = chat(user, "call me Adda")

    assert extract(conversation) == 0

    assert list(MemoryItem.objects.filter(owner=user).values_list("id", "content")) == [
        (mine.id, "Ada Lovelace")
    ]


def test_extraction_stops_at_the_maximum_number_of_items(user, claude, settings):
    settings.NUMINA_MEMORY_MAX_ITEMS = 2
    claude.answer_tools(ToolUse(ADA_FACTS))
    conversation = chat(user, ADA)

    assert extract(conversation) == 2
    assert MemoryItem.objects.filter(owner=user).count() == 2


def test_a_long_backlog_is_read_a_batch_at_a_time(user, claude, settings, enqueued):
    settings.NUMINA_MEMORY_EXTRACT_MESSAGES = 2
    conversation = chat(user, "one")
    for text in ("two", "three"):
        chat(user, text, conversation)

    extract(conversation)

    assert "two" in tool_requests(claude)[0]["messages"][0]["content"]
    assert "three" not in tool_requests(claude)[0]["messages"][0]["content"]
    assert ExtractionMark.objects.get(conversation=conversation).seq == 3


def test_a_fast_chat_enqueues_one_extraction_until_it_runs(
    user, offline, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        conversation = chat(user, "one")
    with django_capture_on_commit_callbacks(execute=True):
        chat(user, "two", conversation)
    assert enqueued.count("memory.tasks.extract_memory") == 1

    followups.release_memory_extraction(conversation_id=conversation.id)  # the task began
    with django_capture_on_commit_callbacks(execute=True):
        chat(user, "three", conversation)
    assert enqueued.count("memory.tasks.extract_memory") == 2


def test_the_extraction_is_sent_with_the_debounce_countdown(
    user, offline, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.NUMINA_MEMORY_DEBOUNCE = 17
    sent = []
    monkeypatch.setattr(followups, "send", lambda **kwargs: sent.append(kwargs))
    with django_capture_on_commit_callbacks(execute=True):
        conversation = chat(user, "Hi")

    assert {
        "task_name": "memory.tasks.extract_memory",
        "conversation_id": conversation.id,
        "countdown": 17,
    } in sent


def test_the_offline_provider_extracts_plain_statements(user, offline):
    conversation = chat(user, ADA)
    chat(user, "I work as a skipper and I love sailing. Actually, call me Adda", conversation)

    extract(conversation)

    assert kept(user) == {
        ("name", "Adda"),
        ("role", "skipper"),
        ("preference", "metric units"),
        ("interest", "sailing"),
    }
    assert MemoryItem.objects.get(owner=user, kind="name").source_conversation_id == conversation.id


def test_a_trashed_conversation_is_not_read(user, claude):
    conversation = chat(user, ADA)
    services.delete_conversation(user=user, conversation_id=conversation.id)

    assert extract(conversation) is None
    assert tool_requests(claude) == []


def test_memory_turned_off_while_the_model_was_asked_stores_nothing(user, offline):
    conversation = chat(user, ADA)
    memory_services.set_memory_enabled(user=user, enabled=False)

    stored = memory_services.merge_extracted(
        user=user, conversation_id=conversation.id, facts=extraction.parse_facts(ADA_FACTS)
    )

    assert stored == []
    assert not MemoryItem.objects.exists()
