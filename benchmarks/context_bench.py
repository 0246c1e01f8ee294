"""How much smaller the context is than the full history, on a realistic 50-message chat.

    python benchmarks/context_bench.py [--messages 50] [--budget 2000] [--seed 7]

The conversation is generated (deterministic for a seed): a user working through a
software project with the assistant, short questions and long answers of several
paragraphs, some with code, the way real chats with Claude look. It is then treated
exactly as Numina treats a stored conversation once the summary task has run: the
messages before the recent window are folded into the summary (the offline provider's
extractive summary, so no network is needed; a Claude summary is bounded by
NUMINA_SUMMARY_MAX_TOKENS), and ``context.assemble_context`` builds the request from the
summary and the messages after it, within the budget. Token figures use the same
estimator that enforces the budget (``llm.estimate_tokens``).

The goal (issue 5): the built context needs at least 80 % fewer input tokens than
sending the whole history. Exits non-zero when it does not.

Memory across conversations (issue 16): ten facts about the user are planted in their
messages of that chat (one of them corrected later: "actually, call me Adda"), and a
second chat follows (``--second-messages``). The memory is what Numina's extraction
keeps: the offline provider's patterns (memory/extraction.py), validated as the tool's
answer is, merged one item per subject as memory/services.merge_extracted does (a later
statement of a subject replaces the earlier one), and chosen for the second chat's
context as memory/selectors.context_memory does (within NUMINA_MEMORY_CONTEXT_SHARE of the
budget). The second chat's context (memory + its own summary + recent messages) is
compared with sending the full history of both chats, and each planted fact is looked
for in it. Goal: at least 80 % fewer tokens and 10 of 10 facts.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
os.environ.setdefault("DEBUG", "true")  # the development key is fine for a local measure

import django

django.setup()

from django.conf import settings  # noqa: E402

from conversations import context, llm  # noqa: E402
from memory import extraction, selectors, services  # noqa: E402

GOAL = 0.80

TOPICS = [
    "the database schema",
    "the Celery retry policy",
    "the Redis cache keys",
    "the REST API pagination",
    "the login page",
    "the deployment with Docker",
    "the search index",
    "the test suite",
    "the rate limits",
    "the export format",
]
QUESTIONS = [
    "How should I design {topic}? I want it to hold up when we have a million users.",
    "I tried your suggestion for {topic} and got an error about a missing column. Why?",
    "Can you show me a minimal example for {topic} in Django?",
    "What are the trade-offs between the two approaches to {topic} you mentioned?",
    "Is there anything in {topic} that will hurt us in production?",
    "Please review this plan for {topic}: keep it simple first, optimise later. Agree?",
]
SENTENCES = [
    "The first thing to settle is what must stay true when two requests arrive at once.",
    "A row lock taken inside the transaction makes the order explicit and cheap to reason about.",
    "Indexes should follow the queries you actually run, not the columns you happen to have.",
    "Keep the write path boring: one service function, one transaction, one place to test.",
    "Caching helps only once the source of truth is correct; invalidate after commit.",
    "Measure before optimising: a query count assertion in the tests catches regressions early.",
    "Retries need a budget, or a slow dependency turns into a thundering herd.",
    "Exponential backoff with jitter spreads the retries so they do not arrive together.",
    "Prefer keyset pagination for lists that grow, since offsets get slower with every page.",
    "Make the failure visible: a clear error with the saved input beats a silent retry.",
    "The migration can run online if you add the column nullable and backfill in batches.",
    "Document the limit next to the setting that controls it, so operators can find it.",
]
CODE = """```python
@transaction.atomic
def add_message(*, user, conversation_id, content):
    conversation = Conversation.objects.select_for_update().get(
        owner=user, id=conversation_id
    )
    conversation.message_count += 1
    message = Message.objects.create(
        conversation=conversation, seq=conversation.message_count, content=content
    )
    conversation.save(update_fields=["message_count"])
    return message
```"""


def realistic_conversation(count: int, seed: int) -> list[context.Turn]:
    rng = random.Random(seed)
    turns = []
    for index in range(count):
        topic = TOPICS[(index // 6) % len(TOPICS)]
        if index % 2 == 0:
            turns.append(context.Turn("user", rng.choice(QUESTIONS).format(topic=topic)))
            continue
        paragraphs = []
        for _ in range(rng.randint(3, 6)):
            paragraphs.append(" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(3, 6))))
        if rng.random() < 0.3:
            paragraphs.insert(rng.randint(1, len(paragraphs)), CODE)
        turns.append(context.Turn("assistant", f"About {topic}:\n\n" + "\n\n".join(paragraphs)))
    return turns


# (what the user says, the item it must leave in the second chat's context). Planted in
# the first chat's user messages, in this order; the name is corrected near the end.
PLANTED = [
    ("By the way, my name is Ada.", ("name", "Adda")),
    ("I work as a marine biologist, so bear with me.", ("role", "marine biologist")),
    ("I prefer metric units.", ("preference", "metric units")),
    ("I love sailing on weekends.", ("interest", "sailing on weekends")),
    ("I like Python more than Java.", ("interest", "Python more than Java")),
    ("I prefer short answers with examples.", ("preference", "short answers with examples")),
    ("I enjoy hiking in the Alps.", ("interest", "hiking in the Alps")),
    ("I like dark roast coffee.", ("interest", "dark roast coffee")),
    ("I prefer PostgreSQL over MySQL.", ("preference", "PostgreSQL over MySQL")),
    ("I love jazz music.", ("interest", "jazz music")),
]
CORRECTION = "Actually, call me Adda."


def plant_facts(history: list[context.Turn]) -> list[context.Turn]:
    """The chat with the facts said in its user turns, spread over it, and the correction
    in a late one."""
    turns = list(history)
    user_turns = [index for index, turn in enumerate(turns) if turn.role == "user"]
    step = max(1, (len(user_turns) - 2) // len(PLANTED))
    for number, (said, _) in enumerate(PLANTED):
        index = user_turns[min(number * step, len(user_turns) - 1)]
        turns[index] = context.Turn("user", f"{turns[index].content} {said}")
    late = user_turns[-2] if len(user_turns) > 1 else user_turns[-1]
    turns[late] = context.Turn("user", f"{turns[late].content} {CORRECTION}")
    return turns


def kept_memory(history: list[context.Turn]) -> list[dict]:
    """The items extraction would keep from the chat's user messages, newest first."""
    said = [turn.content for turn in history if turn.role == "user"]
    facts: list[extraction.ExtractedFact] = []
    for start in range(0, len(said), settings.NUMINA_MEMORY_EXTRACT_MESSAGES):
        batch = said[start : start + settings.NUMINA_MEMORY_EXTRACT_MESSAGES]
        facts += extraction.parse_facts({"facts": extraction.offline_facts(batch)})
    items: dict[tuple[str, str], dict] = {}
    for fact in facts:
        key = (fact.kind, services.subject_for(kind=fact.kind, subject=fact.subject))
        items.pop(key, None)  # replaced: it becomes the newest
        items[key] = {
            "id": f"{len(items)}",
            "kind": fact.kind,
            "content": fact.content,
            "user_written": False,
        }
    return list(reversed(items.values()))


def summarized_context(history: list[context.Turn], *, budget: int, memory=()) -> context.Context:
    """The context once the summary task has run: all before the recent window folded in."""
    as_dicts = [{"role": turn.role, "content": turn.content} for turn in history]
    covers = max(0, len(history) - settings.NUMINA_CONTEXT_RECENT_MESSAGES)
    summary = llm.OfflineProvider().summarize(previous_summary="", messages=as_dicts[:covers]).text
    return context.assemble_context(
        history=history[covers:],
        summary=summary if covers else "",
        budget=budget,
        total_messages=len(history),
        summarized_messages=covers,
        memory=memory,
    )


def memory_scenario(*, first: list[context.Turn], args) -> bool:
    """The second chat after the first: its context with memory and summary against the
    full history of both, and the planted facts found in it."""
    first = plant_facts(first)
    second = realistic_conversation(args.second_messages, args.seed + 1)
    second[-1 if second[-1].role == "user" else -2] = context.Turn(
        "user", "Do you remember me? Remind me what you know about me."
    )
    both = [{"role": turn.role, "content": turn.content} for turn in first + second]
    full_tokens = llm.estimate_tokens(settings.NUMINA_SYSTEM_PROMPT) + (
        llm.estimate_message_tokens(both)
    )
    kept = kept_memory(first)
    sent = selectors.fit_memory(kept, budget=args.budget)
    built = summarized_context(second, budget=args.budget, memory=sent)
    found = [
        expected
        for _, expected in PLANTED
        if selectors.memory_line(kind=expected[0], content=expected[1]) in built.system
    ]
    stale_name = selectors.memory_line(kind="name", content="Ada") + "\n" in built.system + "\n"
    reduction = 1 - built.estimated_tokens / full_tokens
    memory_tokens = llm.estimate_tokens(selectors.memory_text(sent))
    print()
    print(
        f"memory: a second chat of {len(second)} messages after the first "
        f"({len(PLANTED)} facts planted in it, the name corrected)"
    )
    print(f"full history of both:    {full_tokens:6d} input tokens")
    print(
        f"second chat's context:   {built.estimated_tokens:6d} input tokens "
        f"(memory {memory_tokens} for {len(sent)} of {len(kept)} items kept, "
        f"{len(built.messages)} recent messages {built.history_tokens})"
    )
    print(f"reduction:               {reduction:6.1%} fewer input tokens (goal {GOAL:.0%})")
    print(
        f"planted facts in context: {len(found)}/{len(PLANTED)}"
        f"{' (the old name is gone)' if not stale_name else ' (the OLD NAME is still there)'}"
    )
    for said, expected in PLANTED:
        mark = "yes" if expected in found else "NO "
        print(f"  {mark} {expected[0]:<10} {expected[1]!r:<32} from {said!r}")
    return reduction >= GOAL and len(found) == len(PLANTED) and not stale_name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--budget", type=int, default=settings.NUMINA_CONTEXT_BUDGET)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--second-messages", type=int, default=20)
    args = parser.parse_args()

    history = realistic_conversation(args.messages, args.seed)
    as_dicts = [{"role": turn.role, "content": turn.content} for turn in history]
    full_tokens = llm.estimate_tokens(settings.NUMINA_SYSTEM_PROMPT) + (
        llm.estimate_message_tokens(as_dicts)
    )

    # What the summary task leaves behind: everything before the recent window folded in.
    covers = max(0, len(history) - settings.NUMINA_CONTEXT_RECENT_MESSAGES)
    summary = llm.OfflineProvider().summarize(previous_summary="", messages=as_dicts[:covers]).text
    built = context.assemble_context(
        history=history[covers:],
        summary=summary,
        budget=args.budget,
        total_messages=len(history),
        summarized_messages=covers,
    )
    # For comparison: the budget alone, before any summary exists.
    unsummarized = context.assemble_context(history=history, budget=args.budget)

    reduction = 1 - built.estimated_tokens / full_tokens
    print(f"conversation: {len(history)} messages, {sum(len(t.content) for t in history)} chars")
    print(f"full history:            {full_tokens:6d} input tokens")
    print(
        f"built context:           {built.estimated_tokens:6d} input tokens "
        f"(system + summary {llm.estimate_tokens(built.system)}, "
        f"{len(built.messages)} recent messages {built.history_tokens}; "
        f"summary covers {covers} messages)"
    )
    print(
        f"budget only, no summary: {unsummarized.estimated_tokens:6d} input tokens "
        f"({len(unsummarized.messages)} newest messages)"
    )
    print(f"reduction:               {reduction:6.1%} fewer input tokens (goal {GOAL:.0%})")
    memory_ok = memory_scenario(first=history, args=args)
    return 0 if reduction >= GOAL and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
