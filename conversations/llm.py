"""The one door to the model: Anthropic's Messages API, or the offline provider.

Everything that asks the model something (chat replies, titles, summaries, memory
extraction: a forced call of one tool whose JSON input is the answer) goes through
``get_provider()``. With ``ANTHROPIC_API_KEY`` set it is Claude through the official SDK
(model, max tokens, timeout and retries from settings; ``ANTHROPIC_BASE_URL`` honoured).
Without one it is the offline provider: deterministic, plainly labelled
(``provider = "offline"`` in the metadata of what it writes), so the product still works
on one machine with no key and no network.

SDK errors never leave this module: they become ``TransientLLMError`` (worth retrying:
connection, timeout, 429, 5xx, 529 overloaded, a stream whose connection breaks) or
``PermanentLLMError`` (the request itself is wrong: 400, 401, 403, 404 …), so callers
decide on retries without knowing the SDK.

Every call returns (or, streamed, ends with) a ``Completion`` carrying the model's own
``usage``, so the caller can charge it to the user's daily budget (services/spend.py).
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, cast

import anthropic
import httpx
from anthropic.types import MessageParam
from django.conf import settings
from PIL import Image
from pypdf import PdfReader

from memory import extraction
from numina import metrics

from .plaintext import markdown_to_text

OFFLINE_PROVIDER = "offline"
ANTHROPIC_PROVIDER = "anthropic"

OFFLINE_REPLY = (
    "The assistant is offline: Numina has no ANTHROPIC_API_KEY configured, so Claude "
    "cannot answer right now. Your message is saved and nothing is lost."
)

TITLE_INSTRUCTIONS = (
    "Write a short title, at most six words, for the conversation the user shows you. "
    "Answer with the title only: no quotes, no punctuation at the end."
)
SUMMARY_INSTRUCTIONS = (
    "You keep a running summary of a conversation between a user and an assistant. "
    "Given the summary so far and the messages that follow it, write the new summary: "
    "the facts, decisions, preferences and open questions worth remembering, in plain "
    "prose, at most 200 words. Answer with the summary only."
)

# Characters of one message that a title or summary prompt quotes: enough to know what
# was said, and it keeps those prompts small whatever the messages hold.
QUOTE_CHARS = 2000
OFFLINE_TITLE_CHARS = 60
OFFLINE_SUMMARY_CHARS = 1500

# Per message the Messages API adds a few tokens of framing around the content.
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    """A conservative token estimate without a network call.

    English averages about four characters a token; other scripts are often a token a
    character or more, so each non-ASCII character counts as one. Budgets are checked
    against this estimate, and the real counts come back in each response's usage.
    """
    if not text:
        return 0
    non_ascii = sum(1 for char in text if ord(char) > 127)
    return math.ceil((len(text) - non_ascii) / 4) + non_ascii


# Anthropic's documented costs of files: an image is about width x height / 750 tokens,
# and is scaled down to fit 1568 pixels a side first (so about 1,600 tokens at most); a
# PDF page is its text plus an image of the page, 1,500 to 3,000 tokens.
IMAGE_TOKENS_MAX = 1600
IMAGE_PIXELS_PER_TOKEN = 750
PDF_PAGE_TOKENS = 2000


def image_tokens(width: int, height: int) -> int:
    return min(max(math.ceil(width * height / IMAGE_PIXELS_PER_TOKEN), 1), IMAGE_TOKENS_MAX)


def pdf_tokens(pages: int) -> int:
    return max(pages, 1) * PDF_PAGE_TOKENS


def text_file_tokens(size: int) -> int:
    # Bytes, not characters, are known before the text is read: a UTF-8 character of
    # another script is 2-4 bytes and about a token, so a third of the bytes bounds it.
    return math.ceil(size / 3)


def block_tokens(block: dict) -> int:
    """The estimated tokens of one content block: text as text, a context's file
    placeholder by what it says, a file sent to the model by its measures."""
    kind = block.get("type")
    if kind == "text":
        return estimate_tokens(block.get("text", ""))
    if kind == "file":
        return int(block["file"].get("estimated_tokens", 0))
    if kind in ("image", "document"):
        described = describe_file_block(block)
        if described.kind == "image":
            return image_tokens(described.width, described.height)
        if described.kind == "pdf":
            return pdf_tokens(described.pages)
        return estimate_tokens(described.text)
    return 0


def content_tokens(content: str | Sequence[dict]) -> int:
    if isinstance(content, str):
        return estimate_tokens(content)
    return sum(block_tokens(block) for block in content)


def estimate_message_tokens(messages: Sequence[dict]) -> int:
    return sum(content_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


@dataclass(frozen=True)
class DescribedBlock:
    kind: str  # image | pdf | text
    width: int = 0
    height: int = 0
    pages: int = 0
    text: str = ""


def describe_file_block(block: dict) -> DescribedBlock:
    """What a file block sent to the model holds, read from its own bytes (the offline
    provider says what it received; nothing is taken on trust from elsewhere)."""
    source = block.get("source") or {}
    if block.get("type") == "image":
        with Image.open(io.BytesIO(base64.b64decode(source.get("data", "")))) as image:
            width, height = image.size
        return DescribedBlock("image", width=width, height=height)
    if source.get("type") == "text":
        return DescribedBlock("text", text=source.get("data", ""))
    pages = len(PdfReader(io.BytesIO(base64.b64decode(source.get("data", "")))).pages)
    return DescribedBlock("pdf", pages=pages)


def text_of_content(content: str | Sequence[dict]) -> str:
    """The text of a message's content, its files left out."""
    if isinstance(content, str):
        return content
    return "\n\n".join(block["text"] for block in content if block.get("type") == "text")


class LLMError(Exception):
    """The model could not answer. ``transient`` says whether trying again may help."""

    transient = False


class TransientLLMError(LLMError):
    transient = True


class PermanentLLMError(LLMError):
    transient = False


@dataclass(frozen=True)
class Completion:
    text: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    stop_reason: str | None = None
    extra_usage: dict = field(default_factory=dict)
    # The input of the tool the model was asked to call (memory extraction); None when
    # it answered without calling it.
    tool_input: object = None

    def metadata(self) -> dict:
        """What an assistant message stores about how it was written."""
        return {
            "provider": self.provider,
            "model": self.model,
            "stop_reason": self.stop_reason,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                **self.extra_usage,
            },
        }


class Provider(Protocol):
    name: str

    def reply(self, *, system: str, messages: list[dict]) -> Completion: ...

    def stream_reply(self, *, system: str, messages: list[dict]) -> Iterator[str | Completion]:
        """Yield text deltas as they arrive, then one ``Completion``."""
        ...

    def title(self, *, messages: Sequence[dict]) -> Completion: ...

    def summarize(self, *, previous_summary: str, messages: Sequence[dict]) -> Completion: ...

    def remember(self, *, known: Sequence[str], messages: Sequence[str]) -> Completion:
        """Facts about the user in their ``messages``, as the memory tool's input."""
        ...


def get_provider() -> Provider:
    """Claude when a key is configured, the offline provider otherwise."""
    if settings.ANTHROPIC_API_KEY:
        return AnthropicProvider()
    return OfflineProvider()


def transcript(messages: Sequence[dict]) -> str:
    """Messages as a plain transcript, each quoted up to QUOTE_CHARS."""
    lines = []
    for message in messages:
        content = message["content"].strip()
        if len(content) > QUOTE_CHARS:
            content = content[:QUOTE_CHARS] + " […]"
        lines.append(f"{message['role'].capitalize()}: {content}")
    return "\n\n".join(lines)


# --- Claude ---------------------------------------------------------------------------

# Who retries a failed call, decided once so one title is never tried (SDK attempts) x
# (task runs) times, 3 x 6 = 18 with the defaults. A chat reply has a person waiting and
# no task around it: the SDK retries it (ANTHROPIC_MAX_RETRIES, short waits, honouring
# Retry-After). Titles and summaries run only in Celery tasks, whose retries back off
# from seconds to minutes with jitter, which is what an overloaded (529) or rate-limited
# model needs: there the SDK makes one attempt and Celery owns the retries
# (conversations/tasks.py), so a task makes NUMINA_TASK_MAX_RETRIES + 1 model requests at
# most, and each run lasts at most one ANTHROPIC_TIMEOUT.
BACKGROUND_SDK_RETRIES = 0


@functools.lru_cache(maxsize=4)
def _client(api_key: str, base_url: str, timeout: float, max_retries: int) -> anthropic.Anthropic:
    # One client per configuration, so its HTTP connection pool is reused across calls.
    return anthropic.Anthropic(
        api_key=api_key,
        base_url=base_url or None,
        timeout=timeout,
        max_retries=max_retries,
    )


def client(*, max_retries: int | None = None) -> anthropic.Anthropic:
    """The SDK client; ``max_retries`` overrides ANTHROPIC_MAX_RETRIES for one kind of call."""
    return _client(
        settings.ANTHROPIC_API_KEY,
        settings.ANTHROPIC_BASE_URL,
        float(settings.ANTHROPIC_TIMEOUT),
        int(settings.ANTHROPIC_MAX_RETRIES if max_retries is None else max_retries),
    )


def _translate(exc: anthropic.AnthropicError) -> LLMError:
    if isinstance(exc, anthropic.APIConnectionError):  # includes timeouts
        return TransientLLMError(f"Could not reach the model: {exc}")
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        message = f"The model answered {status}: {exc.message}"
        if status in (408, 409, 429) or status >= 500:
            return TransientLLMError(message)
        return PermanentLLMError(message)
    return PermanentLLMError(str(exc))


def _text_of(message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def _tool_input(message, name: str) -> object:
    for block in message.content:
        if block.type == "tool_use" and block.name == name:
            return block.input
    return None


def _completion(message, *, tool: str | None = None) -> Completion:
    usage = message.usage
    metrics.model_tokens.labels(direction="in").inc(usage.input_tokens or 0)
    metrics.model_tokens.labels(direction="out").inc(usage.output_tokens or 0)
    extra = {
        name: value
        for name in ("cache_creation_input_tokens", "cache_read_input_tokens")
        if (value := getattr(usage, name, None))
    }
    return Completion(
        text=_text_of(message),
        provider=ANTHROPIC_PROVIDER,
        model=message.model,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        stop_reason=message.stop_reason,
        extra_usage=extra,
        tool_input=_tool_input(message, tool) if tool else None,
    )


class AnthropicProvider:
    name = ANTHROPIC_PROVIDER

    def _create(
        self,
        *,
        system: str,
        messages: list[dict],
        max_tokens: int,
        max_retries: int | None = None,
    ) -> Completion:
        try:
            message = client(max_retries=max_retries).messages.create(
                model=settings.ANTHROPIC_MODEL,
                max_tokens=max_tokens,
                system=system,
                messages=cast("list[MessageParam]", messages),
            )
        except anthropic.AnthropicError as exc:
            raise _translate(exc) from exc
        return _completion(message)

    def reply(self, *, system: str, messages: list[dict]) -> Completion:
        return self._create(
            system=system, messages=messages, max_tokens=settings.ANTHROPIC_MAX_TOKENS
        )

    def stream_reply(self, *, system: str, messages: list[dict]) -> Iterator[str | Completion]:
        try:
            with client().messages.stream(
                model=settings.ANTHROPIC_MODEL,
                max_tokens=settings.ANTHROPIC_MAX_TOKENS,
                system=system,
                messages=cast("list[MessageParam]", messages),
            ) as stream:
                yield from stream.text_stream
                final = stream.get_final_message()
        except anthropic.AnthropicError as exc:
            raise _translate(exc) from exc
        except httpx.HTTPError as exc:
            # The SDK wraps errors of the request, not of the body it reads afterwards: a
            # connection that breaks mid-reply surfaces as httpx's own error.
            raise TransientLLMError(f"The model's stream broke off: {exc!r}") from exc
        if final.stop_reason is None:
            # The connection ended before message_stop: the reply is cut short.
            raise TransientLLMError("The model's stream ended before the reply was complete.")
        yield _completion(final)

    def remember(self, *, known: Sequence[str], messages: Sequence[str]) -> Completion:
        # A forced call of the one tool: the answer is its JSON input, checked against the
        # schema by the caller (memory/extraction.py), never free text to parse.
        try:
            message = client(max_retries=BACKGROUND_SDK_RETRIES).messages.create(
                model=settings.ANTHROPIC_MODEL,
                max_tokens=settings.NUMINA_MEMORY_MAX_TOKENS,
                system=extraction.INSTRUCTIONS,
                messages=cast("list[MessageParam]", memory_prompt(known=known, messages=messages)),
                tools=[cast("anthropic.types.ToolParam", extraction.TOOL)],
                tool_choice={"type": "tool", "name": extraction.TOOL_NAME},
            )
        except anthropic.AnthropicError as exc:
            raise _translate(exc) from exc
        return _completion(message, tool=extraction.TOOL_NAME)

    def title(self, *, messages: Sequence[dict]) -> Completion:
        return self._create(
            system=TITLE_INSTRUCTIONS,
            messages=title_prompt(messages),
            max_tokens=settings.NUMINA_TITLE_MAX_TOKENS,
            max_retries=BACKGROUND_SDK_RETRIES,
        )

    def summarize(self, *, previous_summary: str, messages: Sequence[dict]) -> Completion:
        return self._create(
            system=SUMMARY_INSTRUCTIONS,
            messages=summary_prompt(previous_summary=previous_summary, messages=messages),
            max_tokens=settings.NUMINA_SUMMARY_MAX_TOKENS,
            max_retries=BACKGROUND_SDK_RETRIES,
        )


def title_prompt(messages: Sequence[dict]) -> list[dict]:
    return [{"role": "user", "content": transcript(messages)}]


def memory_prompt(*, known: Sequence[str], messages: Sequence[str]) -> list[dict]:
    """The user's new messages, each quoted up to QUOTE_CHARS, after what is known."""
    quoted = [
        message[:QUOTE_CHARS] + (" […]" if len(message) > QUOTE_CHARS else "")
        for message in messages
    ]
    known_text = "\n".join(f"- {line}" for line in known) or "(nothing yet)"
    prompt = (
        f"Already known about the user:\n{known_text}\n\n"
        "The user's new messages:\n\n" + "\n\n".join(f"User: {text}" for text in quoted)
    )
    return [{"role": "user", "content": prompt}]


def summary_prompt(*, previous_summary: str, messages: Sequence[dict]) -> list[dict]:
    prompt = (
        f"Summary so far:\n{previous_summary or '(none yet)'}\n\n"
        f"Messages that follow it:\n\n{transcript(messages)}"
    )
    return [{"role": "user", "content": prompt}]


# --- Offline --------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    """Cut at a word boundary, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut.rstrip(" ,;:-") + "…"


def _first_sentence(text: str) -> str:
    line = _one_line(text)
    return _SENTENCE_END.split(line, maxsplit=1)[0]


def _as_title(content: str) -> str:
    # A title is shown as text: the message's Markdown read as plain words (no "**",
    # no code fences); a message with no words left (a rule, "***") keeps its
    # characters, which clean_generated_title then judges.
    return _shorten(markdown_to_text(content) or _one_line(content), OFFLINE_TITLE_CHARS)


def title_from_messages(messages: Sequence[dict]) -> str:
    """The first user message, as a title: what the offline provider and the fallback
    use, its Markdown read as plain text."""
    for message in messages:
        if message["role"] == "user" and message["content"].strip():
            return _as_title(message["content"])
    for message in messages:
        if message["content"].strip():
            return _as_title(message["content"])
    return ""


class OfflineProvider:
    """Answers without a model: deterministic, and it says so."""

    name = OFFLINE_PROVIDER

    def _answer(self, *, text: str, system: str, messages: Sequence[dict]) -> Completion:
        # Usage is the estimate of what Claude would have been sent and have written, so
        # the daily budget behaves the same with and without a key.
        return Completion(
            text=text,
            provider=OFFLINE_PROVIDER,
            model=OFFLINE_PROVIDER,
            input_tokens=estimate_tokens(system) + estimate_message_tokens(messages),
            output_tokens=estimate_tokens(text),
            stop_reason="end_turn",
        )

    def reply(self, *, system: str, messages: list[dict]) -> Completion:
        received = received_files(messages[-1]["content"]) if messages else ""
        text = f"{OFFLINE_REPLY} It received {received}." if received else OFFLINE_REPLY
        return self._answer(text=text, system=system, messages=messages)

    def stream_reply(self, *, system: str, messages: list[dict]) -> Iterator[str | Completion]:
        completion = self.reply(system=system, messages=messages)
        words = completion.text.split(" ")
        for index, word in enumerate(words):
            yield word if index == 0 else " " + word
        yield completion

    def title(self, *, messages: Sequence[dict]) -> Completion:
        return self._answer(
            text=title_from_messages(messages),
            system=TITLE_INSTRUCTIONS,
            messages=title_prompt(messages),
        )

    def remember(self, *, known: Sequence[str], messages: Sequence[str]) -> Completion:
        facts = extraction.offline_facts(messages)
        completion = self._answer(
            text="",
            system=extraction.INSTRUCTIONS,
            messages=memory_prompt(known=known, messages=messages),
        )
        return replace(completion, tool_input={"facts": facts}, stop_reason="tool_use")

    def summarize(self, *, previous_summary: str, messages: Sequence[dict]) -> Completion:
        return self._answer(
            text=offline_summary(previous_summary=previous_summary, messages=messages),
            system=SUMMARY_INSTRUCTIONS,
            messages=summary_prompt(previous_summary=previous_summary, messages=messages),
        )


# Between an image's width and height, as people write it (640 by 480).
TIMES = "\u00d7"


def received_files(content: str | Sequence[dict]) -> str:
    """The files of a message's content in words: "1 image, 640x480", "2 images
    (640x480, 10x10) and 1 PDF of 3 pages" (with TIMES for the x); "" for none."""
    if isinstance(content, str):
        return ""
    images, pdfs, texts = [], [], []
    for block in content:
        if block.get("type") not in ("image", "document"):
            continue
        described = describe_file_block(block)
        if described.kind == "image":
            images.append(f"{described.width}{TIMES}{described.height}")
        elif described.kind == "pdf":
            pdfs.append(described.pages)
        else:
            texts.append(len(described.text))
    parts = []
    if images:
        sizes = ", ".join(images)
        parts.append(f"1 image, {sizes}" if len(images) == 1 else f"{len(images)} images ({sizes})")
    if pdfs:
        pages = ", ".join(str(count) for count in pdfs)
        parts.append(
            f"1 PDF of {pages} page{'s' if pdfs[0] != 1 else ''}"
            if len(pdfs) == 1
            else f"{len(pdfs)} PDFs ({pages} pages)"
        )
    if texts:
        parts.append("1 text file" if len(texts) == 1 else f"{len(texts)} text files")
    return " and ".join(parts)


def offline_summary(*, previous_summary: str, messages: Sequence[dict]) -> str:
    """Extractive: the first sentence of each message, newest kept when it is long."""
    points = [previous_summary.strip()] if previous_summary.strip() else []
    for message in messages:
        sentence = _first_sentence(message["content"])
        if sentence:
            points.append(f"{message['role'].capitalize()}: {_shorten(sentence, 200)}")
    summary = "\n".join(points)
    if len(summary) > OFFLINE_SUMMARY_CHARS:
        # The newest points matter most to the next reply; keep the end.
        summary = "…" + summary[-(OFFLINE_SUMMARY_CHARS - 1) :].split("\n", 1)[-1]
    return summary
