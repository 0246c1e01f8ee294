"""The memory in the model's context: a bounded share of the budget, the user's own items
first and then the newest, nothing when memory is off, and the cached context keyed so a
change is in the very next one."""

import pytest

from conversations import context, llm, services
from memory import selectors
from memory import services as memory_services
from memory.models import MemoryItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(user):
    conversation = services.create_conversation(user=user)
    services.add_message(user=user, conversation_id=conversation.id, role="user", content="Hi")
    conversation.refresh_from_db()
    return conversation


def build(user, conversation, budget=2000):
    return context.build_context(conversation=conversation, budget=budget, user=user)


def test_the_memory_stays_within_its_share_of_the_budget(user, conversation, settings):
    settings.NUMINA_MEMORY_CONTEXT_SHARE = 0.10
    for n in range(60):
        MemoryItem.objects.create(
            owner=user, kind="fact", subject=f"s{n}", content=f"fact number {n} " * 5
        )

    built = build(user, conversation, budget=2000)

    section = selectors.memory_text(built.memory)
    assert 0 < len(built.memory) < 60
    assert llm.estimate_tokens(section) <= 200
    assert section in built.system
    # The history keeps the rest of the budget: the message is still sent.
    assert built.messages[-1]["content"] == "Hi"


def test_the_users_own_items_come_first_then_the_newest(user, conversation, settings):
    settings.NUMINA_MEMORY_CONTEXT_ITEMS = 2
    own = memory_services.create_item(user=user, kind="fact", content="Mine, written early")
    for n in range(3):
        MemoryItem.objects.create(owner=user, kind="fact", subject=f"x{n}", content=f"learnt {n}")

    built = build(user, conversation)

    assert [item["content"] for item in built.memory] == [own.content, "learnt 2"]


def test_an_item_too_long_for_the_share_is_left_out_and_shorter_ones_still_fit(user, conversation):
    MemoryItem.objects.create(owner=user, kind="fact", subject="short", content="Short fact")
    MemoryItem.objects.create(owner=user, kind="fact", subject="long", content="x" * 500)

    built = build(user, conversation, budget=400)  # a share of 40 tokens

    assert [item["content"] for item in built.memory] == ["Short fact"]


def test_without_a_user_or_with_memory_off_no_memory_is_sent(user, conversation):
    memory_services.create_item(user=user, kind="name", content="Ada")
    assert build(None, conversation).memory == []
    memory_services.set_memory_enabled(user=user, enabled=False)

    built = build(user, conversation)

    assert built.memory == []
    assert "What you know about the user" not in built.system


def test_the_memory_costs_one_query(user, conversation, django_assert_num_queries):
    for n in range(10):
        memory_services.create_item(user=user, kind="fact", content=f"f{n}")
    with django_assert_num_queries(4):  # the branch's summary, lengths, contents, memory
        built = build(user, conversation)
    assert len(built.memory) == 10


def test_the_context_answer_lists_the_items_sent(api, user, conversation):
    item = memory_services.create_item(user=user, kind="role", content="marine biologist")

    answer = api.get(f"/api/v1/conversations/{conversation.id}/context/").json()

    assert answer["memory"] == [{"id": str(item.id), "kind": "role", "content": "marine biologist"}]
    assert "- Role: marine biologist" in answer["system"]


@pytest.mark.parametrize("change", ["add", "edit", "delete", "switch"])
def test_every_memory_change_is_in_the_next_cached_context(api, user, conversation, change):
    item = memory_services.create_item(user=user, kind="name", content="Ada")
    url = f"/api/v1/conversations/{conversation.id}/context/"
    api.get(url)
    assert api.get(url)["X-Cache"] == "hit"

    if change == "add":
        api.post("/api/v1/memory/", {"kind": "role", "content": "sailor"}, format="json")
        expected = {"Ada", "sailor"}
    elif change == "edit":
        api.patch(f"/api/v1/memory/{item.id}/", {"content": "Adda"}, format="json")
        expected = {"Adda"}
    elif change == "delete":
        api.delete(f"/api/v1/memory/{item.id}/")
        expected = set()
    else:
        api.patch("/api/v1/me/settings/", {"memory_enabled": False}, format="json")
        expected = set()

    answer = api.get(url)
    assert answer["X-Cache"] == "miss"
    assert {row["content"] for row in answer.json()["memory"]} == expected


def test_memory_and_the_chats_instructions_are_both_sent_and_the_history_keeps_its_floor(
    user, conversation
):
    # Memory takes its share first, the instructions theirs of what is left; however long
    # the instructions, the message being answered is still sent.
    memory_services.create_item(user=user, kind="name", content="Ada")
    conversation.instructions = "Answer in French. " * 300  # ~1,350 tokens
    conversation.save(update_fields=["instructions"])

    built = build(user, conversation, budget=1000)

    assert "Ada" in built.system
    assert "Answer in French." in built.system
    assert built.system.index("Answer in French.") < built.system.index("Ada")
    assert built.messages[-1]["content"] == "Hi"
    memory_tokens = llm.estimate_tokens(selectors.memory_text(built.memory))
    left = context.history_budget_for(
        budget=1000 - memory_tokens, instructions=conversation.instructions.strip()
    )
    assert left == int((1000 - memory_tokens) * context.HISTORY_SHARE_MIN)  # the floor
    assert built.history_tokens <= left
