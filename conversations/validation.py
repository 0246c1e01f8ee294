"""The one place where the limits of API.md are enforced.

Services call these before they write; the API and the browser UI get the same
``ValidationError`` (a field → messages map) and show it as they each do. Limits are
settings (NUMINA_*), read at call time so tests and deployments can change them.
"""

import json
import math
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from .models import Role


class FieldErrors:
    """Collects messages per field so one request learns of every problem at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def check(self, field: str, cleaner, value):
        try:
            return cleaner(value)
        except ValidationError as exc:
            for message in exc.messages:
                self.add(field, message)
            return None

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def _too_long(limit: int) -> ValidationError:
    return ValidationError(f"Ensure this field has no more than {limit} characters.")


def _reject_nul(text: str) -> None:
    # PostgreSQL text and jsonb cannot hold U+0000; refusing it here keeps it a 400.
    if "\x00" in text:
        raise ValidationError("Null characters are not allowed.")


def clean_title(title: Any) -> str:
    if not isinstance(title, str):
        raise ValidationError("Not a valid string.")
    title = title.strip()
    if not title:
        raise ValidationError("This field may not be blank.")
    if len(title) > settings.NUMINA_TITLE_MAX_LENGTH:
        raise _too_long(settings.NUMINA_TITLE_MAX_LENGTH)
    _reject_nul(title)
    return title


def clean_tag_name(name: Any) -> str:
    if not isinstance(name, str):
        raise ValidationError("Each tag must be a string.")
    name = name.strip()
    if not name:
        raise ValidationError("A tag may not be blank.")
    if len(name) > settings.NUMINA_TAG_MAX_LENGTH:
        raise ValidationError(
            f"Ensure each tag has no more than {settings.NUMINA_TAG_MAX_LENGTH} characters."
        )
    _reject_nul(name)
    return name


def clean_tags(tags: Any) -> list[str]:
    """Distinct tag names in the order given, at most NUMINA_MAX_TAGS of them.

    Linear in the input: names are de-duplicated with a dict (order kept), and the bound
    is checked as each new name arrives, so a huge list is refused after the first name
    past the limit instead of being cleaned in full first.
    """
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise ValidationError("Expected a list of strings.")
    limit = settings.NUMINA_MAX_TAGS
    names: dict[str, None] = {}
    for raw in tags:
        names[clean_tag_name(raw)] = None
        if len(names) > limit:
            raise ValidationError(f"Ensure this field has no more than {limit} elements.")
    return list(names)


def clean_instructions(instructions: Any) -> str:
    """A conversation's standing instructions: trimmed, at most
    NUMINA_INSTRUCTIONS_MAX_LENGTH characters; empty clears them."""
    if not isinstance(instructions, str):
        raise ValidationError("Not a valid string.")
    instructions = instructions.strip()
    if len(instructions) > settings.NUMINA_INSTRUCTIONS_MAX_LENGTH:
        raise _too_long(settings.NUMINA_INSTRUCTIONS_MAX_LENGTH)
    _reject_nul(instructions)
    return instructions


def clean_summary(summary: Any) -> str:
    """A summary given by a client (import): at most NUMINA_SUMMARY_MAX_CHARS, else a 400."""
    if not isinstance(summary, str):
        raise ValidationError("Not a valid string.")
    if len(summary) > settings.NUMINA_SUMMARY_MAX_CHARS:
        raise _too_long(settings.NUMINA_SUMMARY_MAX_CHARS)
    _reject_nul(summary)
    return summary


def bounded_summary(summary: str) -> str:
    """A summary no one can be asked to fix (the model's, a legacy store's, one stored
    before the bound), clipped to NUMINA_SUMMARY_MAX_CHARS."""
    return summary.replace("\x00", "")[: settings.NUMINA_SUMMARY_MAX_CHARS]


def check_import_size(*, messages: Any) -> None:
    """An import's message count, checked on the raw list before any message is cleaned:
    a file over the limit costs one ``len`` (the body's bytes are already bounded by
    NUMINA_MAX_REQUEST_BYTES before it is parsed)."""
    limit = settings.NUMINA_IMPORT_MAX_MESSAGES
    if isinstance(messages, list | tuple) and len(messages) > limit:
        raise ValidationError(f"Ensure this field has no more than {limit} elements.")


def clean_role(role: Any) -> str:
    if role not in Role.values:
        raise ValidationError(f'"{role}" is not a valid choice.')
    return role


def clean_content(content: Any) -> str:
    if not isinstance(content, str):
        raise ValidationError("Not a valid string.")
    if not content.strip():
        raise ValidationError("This field may not be blank.")
    if len(content) > settings.NUMINA_CONTENT_MAX_LENGTH:
        raise _too_long(settings.NUMINA_CONTENT_MAX_LENGTH)
    _reject_nul(content)
    return content


def clean_attachments(attachments: Any) -> list[str]:
    if attachments is None:
        return []
    if not isinstance(attachments, list | tuple):
        raise ValidationError("Expected a list of strings.")
    if len(attachments) > settings.NUMINA_MAX_ATTACHMENTS:
        raise ValidationError(
            f"Ensure this field has no more than {settings.NUMINA_MAX_ATTACHMENTS} elements."
        )
    limit = settings.NUMINA_ATTACHMENT_MAX_LENGTH
    for item in attachments:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError("Each attachment must be a non-empty string (a URL or an id).")
        if len(item) > limit:
            raise ValidationError(f"Ensure each attachment has no more than {limit} characters.")
        _reject_nul(item)
    return list(attachments)


def clean_metadata(metadata: Any) -> dict:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValidationError("Expected a JSON object.")
    # The shape first: json.dumps below recurses (a deep value would be a RecursionError)
    # and a lone surrogate cannot be encoded (a UnicodeEncodeError), both 500s.
    _check_json_value(metadata, max_depth=settings.NUMINA_METADATA_MAX_DEPTH)
    limit = settings.NUMINA_METADATA_MAX_BYTES
    if len(json.dumps(metadata, ensure_ascii=False).encode()) > limit:
        raise ValidationError(f"Ensure this object is no larger than {limit} bytes as JSON.")
    return metadata


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_text(text: str) -> None:
    _reject_nul(text)
    # JSON's \ud800 escapes decode to lone surrogates, which UTF-8 (and so jsonb) cannot hold.
    if _SURROGATE.search(text):
        raise ValidationError("Surrogate characters are not allowed.")


def _check_json_value(value: Any, *, max_depth: int) -> None:
    """Refuses what PostgreSQL's jsonb cannot store, or what is nested past ``max_depth``
    (the object itself is level 1). Iterative, with an explicit stack, so a value nested
    far deeper than Python's recursion limit is refused like any other, at the first
    container past the limit, without walking the rest."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise ValidationError(
                    f"Ensure this object is nested no more than {max_depth} levels deep."
                )
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        raise ValidationError("Object keys must be strings.")
                    _check_text(key)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float):
            # Python's json reads 1e400 as infinity (and NaN, Infinity as such); jsonb has
            # no such numbers and refuses the whole value.
            if not math.isfinite(item):
                raise ValidationError("Numbers must be finite.")
        elif item is not None and not isinstance(item, int):  # bool is an int
            raise ValidationError("Expected JSON values only.")


def clean_client_id(client_id: Any) -> uuid.UUID | None:
    if client_id is None:
        return None
    if isinstance(client_id, uuid.UUID):
        return client_id
    try:
        return uuid.UUID(str(client_id))
    except ValueError:
        raise ValidationError("Must be a valid UUID.") from None


def clean_search_query(query: Any) -> str:
    """A search text: trimmed, not blank, at most NUMINA_SEARCH_QUERY_MAX_LENGTH characters."""
    if not isinstance(query, str):
        raise ValidationError("Not a valid string.")
    query = query.strip()
    if not query:
        raise ValidationError("This field may not be blank.")
    if len(query) > settings.NUMINA_SEARCH_QUERY_MAX_LENGTH:
        raise _too_long(settings.NUMINA_SEARCH_QUERY_MAX_LENGTH)
    _reject_nul(query)
    return query


_DECIMAL = re.compile(r"[0-9]+")


def parse_count(text: Any, *, maximum: int) -> int:
    """A whole number from request input (a query parameter, a token): ASCII digits only,
    0 to ``maximum``. ``str.isdigit`` accepts "²" and "٣", which ``int`` then refuses or
    reads, and ``int`` refuses more than 4,300 digits: each of those was a 500."""
    if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
        raise ValidationError("A whole number is required.")
    # Past maximum's own length it is out of range anyway; int() never sees a huge string.
    if len(text.lstrip("0")) > len(str(maximum)) or int(text) > maximum:
        raise ValidationError(f"Ensure this value is at most {maximum}.")
    return int(text)
