"""What extraction asks the model for, how its answer is checked, and the offline patterns.

The model answers through one tool, ``record_memory``, whose JSON schema is below: a list
of facts ``{kind, subject, content}``. Its input is validated with pydantic
(``parse_facts``); anything that does not fit is ``InvalidExtraction``, which the service
logs and ignores (nothing of it is stored).

Without a model key, ``offline_facts`` finds plain statements in the user's own words:
"my name is …", "call me …", "I work as …", "I'm a …", "I like / love / prefer …".

This module imports nothing of the project, so the model door (conversations/llm.py)
and the memory services may both import it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

TOOL_NAME = "record_memory"
KINDS = ("name", "role", "interest", "preference", "fact")
# One run stores at most this many facts: a model that answers with hundreds is wrong.
MAX_FACTS = 20
CONTENT_MAX_LENGTH = 500
SUBJECT_MAX_LENGTH = 100

INSTRUCTIONS = (
    "You maintain a short memory of lasting facts about the user of a chat assistant: "
    "their name, their role or occupation, interests, preferences and other facts that "
    "will still be true in later conversations. Read the user's messages and call the "
    f"{TOOL_NAME} tool with the facts that are new or changed compared with what is "
    "already known. Use kind 'name' for what the user wants to be called and 'role' for "
    "their occupation (one of each: a correction replaces the old one). 'subject' is a "
    "short lowercase key of what the fact is about (e.g. 'units', 'coffee'), the same "
    "key for a fact that changes. 'content' is the fact itself, short, in the third "
    "person or as a plain value. Leave out passing remarks, questions and anything about "
    "other people. Call the tool with an empty list when there is nothing to keep."
)

TOOL: dict[str, Any] = {
    "name": TOOL_NAME,
    "description": "Record new or changed lasting facts about the user.",
    "input_schema": {
        "type": "object",
        "properties": {
            "facts": {
                "type": "array",
                "maxItems": MAX_FACTS,
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": list(KINDS)},
                        "subject": {"type": "string", "maxLength": SUBJECT_MAX_LENGTH},
                        "content": {"type": "string", "maxLength": CONTENT_MAX_LENGTH},
                    },
                    "required": ["kind", "subject", "content"],
                },
            }
        },
        "required": ["facts"],
    },
}


class InvalidExtraction(ValueError):
    """The model's answer is not the structured output asked for."""


class ExtractedFact(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    kind: Literal["name", "role", "interest", "preference", "fact"]
    subject: str = Field(default="", max_length=SUBJECT_MAX_LENGTH)
    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)

    @field_validator("content")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        value = value.replace("\x00", "").strip()
        if not value:
            raise ValueError("empty content")
        return value


class Extraction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    facts: list[ExtractedFact] = Field(max_length=MAX_FACTS)


def parse_facts(payload: object) -> list[ExtractedFact]:
    """The facts of a tool input, validated; ``InvalidExtraction`` for anything else."""
    if not isinstance(payload, dict):
        raise InvalidExtraction(f"not a tool input: {type(payload).__name__}")
    try:
        return Extraction.model_validate(payload).facts
    except ValidationError as exc:
        raise InvalidExtraction(str(exc)) from None


# --- offline --------------------------------------------------------------------------

# A clause ends at punctuation or a new line; "and" / "but" end a name or a role.
_CLAUSES = re.compile(r"[.,;:!?\n]+|\s+(?:and|but|so)\s+(?=(?:i|i'm|im|my|call)\b)", re.I)
_STOP_WORDS = re.compile(r"\s+(?:and|but|so|because|who|which|though|although)\b.*$", re.I)
_NAME = re.compile(
    r"\b(?:my name is|my name's|call me|i am called|i'm called)\s+(?P<value>.+)$", re.I
)
_ROLE = re.compile(r"\b(?:i work as|i'm|i am|im)\s+(?:an?)\s+(?P<value>.+)$", re.I)
_ROLE_WORK = re.compile(r"\bi work as\s+(?:an?\s+)?(?P<value>.+)$", re.I)
_LIKE = re.compile(r"\bi (?:really )?(?P<verb>like|love|enjoy|prefer)\s+(?P<value>.+)$", re.I)
# "I'm a bit tired" is not an occupation.
_NOT_ROLES = frozenset(
    {"bit", "little", "lot", "big", "huge", "fan", "beginner", "newbie", "person", "fan of"}
)
NAME_MAX_WORDS = 3
ROLE_MAX_WORDS = 6


def _words(value: str, limit: int) -> str:
    value = _STOP_WORDS.sub("", value.strip())
    words = value.split()
    return " ".join(words[:limit]).strip(" '\"")


def subject_key(text: str) -> str:
    """A normalised key: lowercase words, single spaces, at most SUBJECT_MAX_LENGTH."""
    return " ".join(re.findall(r"\w+", text.lower()))[:SUBJECT_MAX_LENGTH]


def offline_facts(messages: Sequence[str]) -> list[dict]:
    """The plain statements about the user in their messages, oldest first, as the tool's
    input would list them (a later name replaces an earlier one when merged)."""
    facts: list[dict] = []
    for message in messages:
        for clause in _CLAUSES.split(message):
            clause = clause.strip()
            if not clause:
                continue
            if match := _NAME.search(clause):
                name = _words(match["value"], NAME_MAX_WORDS)
                # "my name is ada": a name is written capitalised when it was typed all
                # lowercase; otherwise as the user wrote it ("McKay", "da Silva").
                name = name.title() if name.islower() else name
                if name:
                    facts.append({"kind": "name", "subject": "name", "content": name})
                continue
            match = _ROLE_WORK.search(clause) or _ROLE.search(clause)
            if match:
                role = _words(match["value"], ROLE_MAX_WORDS)
                if role and role.split()[0].lower() not in _NOT_ROLES:
                    facts.append({"kind": "role", "subject": "role", "content": role})
                continue
            if match := _LIKE.search(clause):
                value = match["value"].strip()[:CONTENT_MAX_LENGTH]
                kind = "preference" if match["verb"].lower() == "prefer" else "interest"
                if value:
                    facts.append({"kind": kind, "subject": subject_key(value), "content": value})
    return facts[:MAX_FACTS]
