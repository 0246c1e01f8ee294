"""The context for the next model call: summary + recent messages inside a token budget.

``assemble_context`` is the pure rule (property-tested over random histories);
``build_context`` feeds it a conversation's messages from the database; ``get_context``
is the cached read the API serves.

The rule: the system prompt carries the user's standing instructions for the chat
(``Conversation.instructions``) and the summary the branch uses (the deepest kept summary
whose last message is on the branch: selectors/kept_summaries.py; never one that covers a
message of another branch); the history is the branch's messages after the one it covers,
taken newest first while they fit the budget, and the newest few are kept even when they
must be shortened to fit. The result is always a valid Messages
API request: first message from the user, roles alternating (adjacent same-role turns
merged), no empty content, system text only in ``system``. The budget bounds the
instructions and the history (messages, plus any system-role messages lifted into
``system``): the instructions take their share first, but the history always keeps at
least ``HISTORY_SHARE_MIN`` of the budget (and room for one shortened message), so long
instructions under a small budget can never crowd out the message being answered. The
base prompt and the summary come on top.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.db.models.functions import Length

from memory import selectors as memory_selectors

from . import access, cache, llm
from .models import Conversation, Message, Role
from .selectors import branches, kept_summaries

# Stands in for the user turn that opened the part of the conversation left out, so the
# request still starts with a user message.
LEAD_IN = "(The conversation began earlier; its first messages are not repeated here.)"
NOTES_HEADER = "\n\nInstructions given earlier in this conversation:\n"
INSTRUCTIONS_HEADER = "\n\nThe user's standing instructions for this conversation:\n"
SUMMARY_HEADER = "\n\nSummary of the conversation so far:\n"
TRUNCATION_MARK = "\n[… {count} characters left out …]\n"
# A message shortened below this many tokens says too little to be worth sending.
MIN_TRUNCATED_TOKENS = 32
# A stored summary may come from an import; it is capped so it cannot crowd the budget out.
SUMMARY_MAX_TOKENS = 1000
# The least share of the budget the history keeps, however long the instructions.
HISTORY_SHARE_MIN = 0.25
# 2: the summary and the counts follow the branch; 3: the instructions (and the files);
# 4: memory (keyed by its revision); 5: all three together.
CACHE_VERSION = 5

_RESERVED_TOKENS = (
    llm.estimate_tokens(LEAD_IN) + llm.MESSAGE_OVERHEAD_TOKENS + llm.estimate_tokens(NOTES_HEADER)
)


# However small the budget, the history keeps room for the newest message, shortened.
_HISTORY_MIN_TOKENS = _RESERVED_TOKENS + 2 * MIN_TRUNCATED_TOKENS


@dataclass(frozen=True)
class ContextFile:
    """A file a message carries, as the context needs it: what to send (the bytes are
    read only when the model is asked: conversations/attachments.py) and what it costs."""

    id: str
    name: str
    content_type: str
    size: int
    width: int | None = None
    height: int | None = None
    pages: int | None = None

    @property
    def kind(self) -> str:
        if self.content_type.startswith("image/"):
            return "image"
        if self.content_type == "application/pdf":
            return "pdf"
        return "text"

    @property
    def tokens(self) -> int:
        if self.kind == "image":
            return llm.image_tokens(self.width or 0, self.height or 0)
        if self.kind == "pdf":
            return llm.pdf_tokens(self.pages or 1)
        return llm.text_file_tokens(self.size)

    def note(self) -> str:
        """What stands in for the file once it is no longer sent."""
        if self.kind == "image":
            return f"[image {self.name}, {self.width}{llm.TIMES}{self.height}, not resent]"
        if self.kind == "pdf":
            pages = f"{self.pages} page{'s' if self.pages != 1 else ''}"
            return f"[PDF {self.name}, {pages}, not resent]"
        return f"[text file {self.name}, {self.size} bytes, not resent]"

    def block(self) -> dict:
        """The placeholder block of a context message (the API's view of it): the
        model's request gets the file's bytes in its place (attachments.materialize)."""
        return {
            "type": "file",
            "file": {
                "id": self.id,
                "name": self.name,
                "content_type": self.content_type,
                "size": self.size,
                "estimated_tokens": self.tokens,
            },
        }


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    files: tuple[ContextFile, ...] = ()


@dataclass(frozen=True)
class Context:
    system: str
    messages: list[dict]
    summary: str
    total_messages: int
    # A summary stands in for older messages (API.md's boolean) ...
    summarized: bool
    # ... covering this many of them.
    summarized_messages: int
    estimated_tokens: int
    # Tokens of the history alone (messages + lifted system notes): what the budget bounds,
    # together with the instructions.
    history_tokens: int
    instructions: str = ""
    # Tokens of the instructions (with their header) in ``system``; 0 without any.
    instructions_tokens: int = 0
    cached: bool = False
    notes: list[str] = field(default_factory=list)
    # The memory items sent (memory/selectors.context_memory): {id, kind, content, …}.
    memory: list[dict] = field(default_factory=list)


def _turn_tokens(content: str) -> int:
    return llm.estimate_tokens(content) + llm.MESSAGE_OVERHEAD_TOKENS


def shorten_to_tokens(content: str, max_tokens: int) -> str | None:
    """Keep the head and the tail of ``content`` within ``max_tokens`` (overhead included).

    The opening states the question and the end usually asks it, so both survive; the
    middle is replaced by a mark that says how much was left out. None when nothing
    useful fits.
    """
    if max_tokens < MIN_TRUNCATED_TOKENS:
        return None

    def cut(keep: int) -> str:
        omitted = len(content) - 2 * keep
        return (
            content[:keep] + TRUNCATION_MARK.format(count=omitted) + content[len(content) - keep :]
        )

    low, high = 0, len(content) // 2
    if _turn_tokens(cut(0)) > max_tokens:
        return None
    while low < high:  # the largest `keep` that fits
        middle = (low + high + 1) // 2
        if _turn_tokens(cut(middle)) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return cut(low) if low else None


def _cost(turn: Turn) -> int:
    return _turn_tokens(turn.content) + sum(item.tokens for item in turn.files)


def _fit(turn: Turn, remaining: int, *, shorten: bool) -> Turn | None:
    if _cost(turn) <= remaining:
        return turn
    file_tokens = sum(item.tokens for item in turn.files)
    shortened = shorten_to_tokens(turn.content, remaining - file_tokens) if shorten else None
    return Turn(turn.role, shortened, turn.files) if shortened is not None else None


def _without_files(turn: Turn) -> Turn:
    """The turn with its files named in a short note instead of sent."""
    if not turn.files:
        return turn
    notes = " ".join(item.note() for item in turn.files)
    return Turn(turn.role, f"{turn.content}\n\n{notes}")


def _with_files(turn: Turn, *, room: int) -> Turn:
    """The turn sending at most ``room`` of its files (its first ones), the rest noted."""
    if len(turn.files) <= room:
        return turn
    sent, noted = turn.files[:room], turn.files[room:]
    notes = " ".join(item.note() for item in noted)
    return Turn(turn.role, f"{turn.content}\n\n{notes}", sent)


def _select(
    turns: Sequence[Turn], *, budget: int, keep_recent: int, recent_files: int | None = None
) -> list[Turn]:
    """The newest turns that fit, oldest first; the newest few shortened if they must be.

    User and assistant turns are chosen first, so instructions given as system-role
    messages can never crowd the conversation out; those inside the chosen window then
    take what budget is left. Files: the newest message (the one being answered) sends
    all of its own; older ones send theirs while fewer than ``recent_files`` have been
    sent and they fit the budget, and otherwise name them in a short note, so a chat
    with many images keeps to its budget.
    """
    recent_files = settings.NUMINA_CONTEXT_RECENT_FILES if recent_files is None else recent_files
    remaining = budget - _RESERVED_TOKENS
    chosen: dict[int, Turn] = {}
    files_sent = 0
    for index in reversed(range(len(turns))):
        if turns[index].role == Role.SYSTEM:
            continue
        turn = turns[index]
        shorten = len(chosen) < keep_recent
        if chosen:
            turn = _with_files(turn, room=max(recent_files - files_sent, 0))
            kept = _fit(turn, remaining, shorten=False) if turn.files else None
            if kept is None:
                kept = _fit(_without_files(turn), remaining, shorten=shorten)
        else:
            # The message being answered: its files are sent whatever they cost (a file
            # the model cannot take was refused when it was attached), its text fitted
            # into what they leave, or sent whole when they leave nothing.
            file_tokens = sum(item.tokens for item in turn.files)
            text = _fit(Turn(turn.role, turn.content), remaining - file_tokens, shorten=shorten)
            if text is None and turn.files:
                text = Turn(turn.role, turn.content)
            kept = Turn(turn.role, text.content, turn.files) if text is not None else None
        if kept is None:
            break
        chosen[index] = kept
        files_sent += len(kept.files)
        remaining -= _cost(kept)
    start = min(chosen, default=len(turns))
    for index in reversed(range(start, len(turns))):
        if turns[index].role != Role.SYSTEM:
            continue
        kept = _fit(turns[index], remaining, shorten=True)
        if kept is not None:
            chosen[index] = kept
            remaining -= _turn_tokens(kept.content)
    return [chosen[index] for index in sorted(chosen)]


def _content(turn: Turn) -> str | list[dict]:
    """Plain text, or (with files) the files' blocks then the text, as Anthropic advises
    for images."""
    if not turn.files:
        return turn.content
    return [*(item.block() for item in turn.files), {"type": "text", "text": turn.content}]


def _join(first: str | list[dict], second: str | list[dict]) -> str | list[dict]:
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    as_blocks = [
        [{"type": "text", "text": part}] if isinstance(part, str) else part
        for part in (first, second)
    ]
    return as_blocks[0] + as_blocks[1]


def _merge(turns: Sequence[Turn]) -> list[dict]:
    """Alternate roles (adjacent same-role turns joined) and open with a user turn."""
    messages: list[dict] = []
    for turn in turns:
        if messages and messages[-1]["role"] == turn.role:
            messages[-1]["content"] = _join(messages[-1]["content"], _content(turn))
        else:
            messages.append({"role": turn.role, "content": _content(turn)})
    if messages and messages[0]["role"] != Role.USER:
        messages.insert(0, {"role": Role.USER.value, "content": LEAD_IN})
    return messages


def instructions_tokens(instructions: str) -> int:
    """What the instructions cost in the system prompt (with their header); 0: none."""
    return llm.estimate_tokens(INSTRUCTIONS_HEADER + instructions) if instructions else 0


def system_prompt(
    *,
    summary: str,
    notes: Sequence[str] = (),
    instructions: str = "",
    memory: Sequence[dict] = (),
) -> str:
    system = settings.NUMINA_SYSTEM_PROMPT
    if instructions:
        system += INSTRUCTIONS_HEADER + instructions
    # What the user told the assistant in other conversations comes before this one's
    # summary: it is about them, the summary about this chat.
    system += memory_selectors.memory_text(list(memory))
    if summary:
        system += SUMMARY_HEADER + summary
    if notes:
        system += NOTES_HEADER + "\n\n".join(notes)
    return system


def _capped_summary(summary: str) -> str:
    summary = summary.strip()
    if _turn_tokens(summary) <= SUMMARY_MAX_TOKENS:
        return summary
    return shorten_to_tokens(summary, SUMMARY_MAX_TOKENS) or ""


def assemble_context(
    *,
    history: Sequence[Turn],
    summary: str = "",
    budget: int | None = None,
    keep_recent: int | None = None,
    total_messages: int | None = None,
    summarized_messages: int = 0,
    instructions: str = "",
    memory: Sequence[dict] = (),
) -> Context:
    """The context for ``history`` (the messages after the summary, oldest first), with
    the ``memory`` items chosen for it (their lines come out of the budget: they were
    chosen within its memory share, memory/selectors.context_memory)."""
    budget = settings.NUMINA_CONTEXT_BUDGET if budget is None else budget
    instructions = instructions.strip()
    spent_on_instructions = instructions_tokens(instructions)
    memory = list(memory)
    memory_tokens = llm.estimate_tokens(memory_selectors.memory_text(memory))
    # Memory first (it was chosen within its own bounded share), then the instructions
    # take theirs of what is left, the history keeping its floor.
    history_budget = history_budget_for(budget=budget - memory_tokens, instructions=instructions)
    keep_recent = settings.NUMINA_CONTEXT_RECENT_MESSAGES if keep_recent is None else keep_recent
    # The newest message is the one being answered: it is always sent, shortened if need be.
    keep_recent = max(keep_recent, 1)
    turns = [
        # A system note is text only: the files of a system-role message are not sent.
        Turn(turn.role, turn.content, turn.files if turn.role != Role.SYSTEM else ())
        for turn in history
        if turn.content and turn.content.strip() and turn.role in Role.values
    ]
    chosen = _select(turns, budget=history_budget, keep_recent=keep_recent)
    notes = [turn.content for turn in chosen if turn.role == Role.SYSTEM]
    messages = _merge([turn for turn in chosen if turn.role != Role.SYSTEM])
    summary = _capped_summary(summary)
    system = system_prompt(summary=summary, notes=notes, instructions=instructions, memory=memory)
    history_tokens = llm.estimate_message_tokens(messages) + (
        llm.estimate_tokens(NOTES_HEADER + "\n\n".join(notes)) if notes else 0
    )
    return Context(
        system=system,
        messages=messages,
        summary=summary,
        total_messages=len(history) if total_messages is None else total_messages,
        summarized=bool(summary),
        summarized_messages=summarized_messages,
        estimated_tokens=llm.estimate_tokens(system) + llm.estimate_message_tokens(messages),
        history_tokens=history_tokens,
        instructions=instructions,
        instructions_tokens=spent_on_instructions,
        notes=notes,
        memory=memory,
    )


def history_budget_for(*, budget: int, instructions: str) -> int:
    """The part of ``budget`` left to the history once the instructions have theirs, but
    never less than ``HISTORY_SHARE_MIN`` of it."""
    floor = min(budget, max(int(budget * HISTORY_SHARE_MIN), _HISTORY_MIN_TOKENS))
    return max(budget - instructions_tokens(instructions), floor)


def _candidate_seqs(*, branch: QuerySet[Message], budget: int, keep_recent: int) -> int | None:
    """The lowest seq worth loading: a cheap pass over lengths, not contents.

    A message costs at least a quarter of its length in tokens (llm.estimate_tokens), so
    the user and assistant messages whose lower bound still fits the budget are a superset
    of what ``_select`` keeps; the system messages among them are loaded with them. The
    newest ``keep_recent`` are always candidates.
    """
    rows = branch.exclude(role=Role.SYSTEM).order_by("-seq").values_list("seq", Length("content"))
    remaining = budget
    lowest = None
    for index, (seq, length) in enumerate(rows):
        lowest = seq
        remaining -= (length + 3) // 4 + llm.MESSAGE_OVERHEAD_TOKENS
        if remaining < 0 and index + 1 >= keep_recent:
            break
    return lowest


def build_context(
    *,
    conversation: Conversation,
    budget: int | None = None,
    leaf_id: uuid.UUID | None = None,
    user=None,
) -> Context:
    """The context for a conversation the caller owns, along the branch that ends at
    ``leaf_id`` (None: the current message): three queries whatever its length or depth
    (the branch's summary, then the lengths and the contents of the messages after it),
    and a fourth for ``user``'s memory when given and turned on (None: no memory).
    The model never sees a message of another branch, nor a summary of one."""
    budget = settings.NUMINA_CONTEXT_BUDGET if budget is None else budget
    memory = memory_selectors.context_memory(user=user, budget=budget)
    keep_recent = settings.NUMINA_CONTEXT_RECENT_MESSAGES
    leaf_id = conversation.current_message_id if leaf_id is None else leaf_id
    instructions = conversation.instructions
    # The messages are chosen within what memory and the instructions leave of the budget.
    history_budget = history_budget_for(
        budget=budget - llm.estimate_tokens(memory_selectors.memory_text(memory)),
        instructions=instructions.strip(),
    )
    used = kept_summaries.for_branch(conversation=conversation, leaf_id=leaf_id)
    # No more messages than could fit (each costs at least its overhead), and none the
    # summary stands for: the walk up the branch stops at the summary.
    most = history_budget // llm.MESSAGE_OVERHEAD_TOKENS + keep_recent
    branch = branches.branch(
        conversation_id=conversation.id,
        leaf_id=leaf_id,
        limit=max(min(most, used.leaf_depth - used.depth), 0),
    ).filter(depth__gt=used.depth)
    lowest = _candidate_seqs(branch=branch, budget=history_budget, keep_recent=keep_recent)
    history: list[Turn] = []
    if lowest is not None:
        rows = list(
            branch.filter(seq__gte=lowest).values_list("id", "role", "content", "attachments")
        )
        carried = _files_of(rows)
        history = [
            Turn(role, content, carried.get(message_id, ()))
            for message_id, role, content, _ in rows
        ]
    return assemble_context(
        history=history,
        summary=used.text,
        budget=budget,
        keep_recent=keep_recent,
        total_messages=used.leaf_depth,
        summarized_messages=used.depth,
        instructions=instructions,
        memory=memory,
    )


def _files_of(rows: Sequence[tuple]) -> dict[uuid.UUID, tuple[ContextFile, ...]]:
    """The files of these (id, role, content, attachments) rows: one query, and none
    when no row names a file."""
    naming = [
        row[0]
        for row in rows
        if any(
            isinstance(item, str) and item.startswith(branches.ATTACHMENT_PREFIX)
            for item in row[3] or ()
        )
    ]
    return {
        message_id: tuple(
            ContextFile(
                id=str(user_file.id),
                name=user_file.name,
                content_type=user_file.content_type,
                size=user_file.size,
                width=user_file.width,
                height=user_file.height,
                pages=user_file.pages,
            )
            for user_file in user_files
        )
        for message_id, user_files in branches.files_by_message(naming).items()
    }


def clean_budget(budget: Any) -> int:
    """A requested budget within NUMINA_CONTEXT_BUDGET_MIN..MAX (the default when None)."""
    if budget is None:
        return settings.NUMINA_CONTEXT_BUDGET
    low, high = settings.NUMINA_CONTEXT_BUDGET_MIN, settings.NUMINA_CONTEXT_BUDGET_MAX
    if isinstance(budget, bool) or not isinstance(budget, int) or not low <= budget <= high:
        raise ValidationError({"budget": [f"Ensure this value is between {low} and {high}."]})
    return budget


def get_context(*, user, conversation_id: Any, budget: int | None = None) -> Context:
    """The user's conversation's next context, from the cache while it is unchanged (for
    the default budget; other budgets are computed each time).

    Kept beside the conversation's other entries (cache.CONVERSATION), so the version that
    every write to the conversation raises makes it stale too; its key carries the user's
    memory revision (raised by every change to their memory and by the switch), so an
    item deleted, edited or learnt is in the very next context, cache or not.
    """
    conversation_uuid = access.as_uuid(conversation_id)
    if conversation_uuid is None:
        raise Conversation.DoesNotExist
    budget = clean_budget(budget)

    def build() -> tuple[int, Context]:
        conversation = access.conversation_for(user=user, conversation_id=conversation_uuid)
        # The version is read with the conversation, before its messages.
        return conversation.change_seq, build_context(
            conversation=conversation, budget=budget, user=user
        )

    if budget != settings.NUMINA_CONTEXT_BUDGET:
        # Only the default budget is cached: one entry per requested budget would let a
        # client fill Redis with up to ~100k variants of a large context.
        return build()[1]

    built, was_cached = cache.cached(
        kind=cache.CONVERSATION,
        scope=cache.conversation_scope(owner_id=user.pk, conversation_id=conversation_uuid),
        variant=f"context:v{CACHE_VERSION}:{budget}:m{user.memory_revision}",
        build=build,
    )
    return replace(built, cached=was_cached)
