"""Chatting with the assistant: store the user's message, ask the model, store its reply.

The user's message is stored (and committed) before the model is asked, so a model
failure loses nothing: ``AssistantUnavailable`` carries the stored message. A repeated
send with the same ``client_id`` reuses the stored message and, when a reply to it
already exists, returns that reply without asking the model again. The API's chat
endpoint and the browser UI's composer both call ``chat`` / ``stream_chat``.

The user's daily token budget (spend.py) is checked after the input is validated and
before the user's message is stored: a refused send (``TokenBudgetExceeded``) stores
nothing, so it cannot half-happen. The model's usage is recorded as soon as it answers,
before the reply is stored, so tokens spent on a reply that cannot be stored count too.
A conversation deleted while its reply was being written ends in ``AssistantUnavailable``
with the code ``conversation_deleted``, never in a stray ``DoesNotExist``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from .. import access, attachments, context, followups, llm, validation
from ..models import Conversation, Message, Role
from ..selectors import kept_summaries
from . import spend
from .conversations import NO_PARENT, add_message, create_conversation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatResult:
    conversation: Conversation
    user_message: Message
    assistant_message: Message
    # False when both messages were already stored (a repeated client_id): nothing new.
    created: bool = True


@dataclass(frozen=True)
class TextDelta:
    text: str


LLM_UNAVAILABLE = "llm_unavailable"
CONVERSATION_DELETED = "conversation_deleted"


class AssistantUnavailable(Exception):
    """No reply was stored; the user's message is stored all the same.

    ``code`` says why: ``llm_unavailable`` (the model failed) or ``conversation_deleted``
    (the conversation went away, with the user's message, while the model answered).
    """

    def __init__(
        self,
        *,
        conversation: Conversation,
        user_message: Message,
        reason: str,
        code: str = LLM_UNAVAILABLE,
    ):
        super().__init__(reason)
        self.conversation = conversation
        self.user_message = user_message
        self.reason = reason
        self.code = code


def _clean_request(
    *, message: Any, client_id: Any, attachments: Any = None
) -> tuple[str, uuid.UUID | None, list[str]]:
    errors = validation.FieldErrors()
    content = errors.check("message", validation.clean_content, message)
    clean_client_id = errors.check("client_id", validation.clean_client_id, client_id)
    # The shape (at most 20 strings …) is a 400 before any file is looked up.
    clean_attachments = errors.check("attachments", validation.clean_attachments, attachments)
    errors.raise_if_any()
    return content, clean_client_id, clean_attachments


def _message_sent_before(*, user, client_id: uuid.UUID) -> Message | None:
    # A retried first send has no conversation id yet: find the message by its
    # client_id among the user's conversations.
    return (
        access.owned_messages(user=user)
        .filter(client_id=client_id)
        .select_related("conversation")
        .first()
    )


@transaction.atomic
def _store_user_message(
    *,
    user,
    conversation_id: Any,
    content: str,
    client_id: uuid.UUID | None,
    parent_id: Any = None,
    attachments: list[str] | None = None,
) -> tuple[Conversation, Message, bool]:
    """The stored user message and its conversation (made when there is none yet)."""
    if conversation_id is None:
        if client_id is not None:
            # Two retries of one first send must not make two conversations: hold the
            # user's row while looking and creating.
            get_user_model().objects.select_for_update().filter(pk=user.pk).first()
            stored = _message_sent_before(user=user, client_id=client_id)
            if stored is not None:
                return stored.conversation, stored, False
        conversation_id = create_conversation(user=user).id
    added = add_message(
        user=user,
        conversation_id=conversation_id,
        role=Role.USER,
        content=content,
        client_id=client_id,
        parent_id=parent_id,
        attachments=attachments,
    )
    conversation = access.conversation_for(user=user, conversation_id=added.message.conversation_id)
    return conversation, added.message, added.created


def _request(user, built: context.Context) -> list[dict]:
    """The context's messages as the model is sent them: its files' bytes read in."""
    return attachments.materialize(user=user, messages=built.messages)


def _reply_to(user_message: Message) -> Message | None:
    return (
        Message.objects.filter(
            conversation_id=user_message.conversation_id,
            seq__gt=user_message.seq,
            role=Role.ASSISTANT,
            metadata__in_reply_to=str(user_message.id),
        )
        .order_by("seq")
        .first()
    )


def _reply_text(completion: llm.Completion) -> str:
    text = completion.text.replace("\x00", "").strip()
    if not text:
        raise llm.PermanentLLMError("The model returned an empty reply.")
    return text[: settings.NUMINA_CONTENT_MAX_LENGTH]


@transaction.atomic
def _store_reply(
    *, user, user_message: Message, completion: llm.Completion, regenerated: bool = False
) -> tuple[Conversation, Message]:
    """Store the reply under the message it answers (never simply under whatever is
    current by now: another send or a branch switch may have moved it) and make it
    current. A regenerated reply is always a new version; a first reply is dropped when
    a retry of the same send stored one first."""
    conversation = access.conversation_for(
        user=user, conversation_id=user_message.conversation_id, lock=True
    )
    # Two sends of one client_id may both have reached the model; the first reply stored
    # is the reply, and the second is dropped.
    existing = None if regenerated else _reply_to(user_message)
    if existing is not None:
        return conversation, existing
    added = add_message(
        user=user,
        conversation_id=conversation.id,
        role=Role.ASSISTANT,
        content=_reply_text(completion),
        metadata={**completion.metadata(), "in_reply_to": str(user_message.id)},
        parent_id=user_message.id,
    )
    Message.objects.filter(pk=added.message.pk).update(token_count=completion.output_tokens)
    added.message.token_count = completion.output_tokens
    conversation.refresh_from_db()
    _enqueue_follow_ups(conversation, memory_enabled=getattr(user, "memory_enabled", False))
    return conversation, added.message


def _enqueue_follow_ups(conversation: Conversation, *, memory_enabled: bool) -> None:
    """Title, summary and memory, in the background, once this transaction has committed
    (memory debounced per conversation: followups.after_commit_extract_memory)."""
    if not conversation.title and not conversation.title_set_by_user:
        followups.after_commit_generate_title(conversation_id=conversation.id)
    if needs_summary(conversation):
        followups.after_commit_summarize(conversation_id=conversation.id)
    if memory_enabled:
        followups.after_commit_extract_memory(conversation_id=conversation.id)


def needs_summary(
    conversation: Conversation, *, used: kept_summaries.BranchSummary | None = None
) -> bool:
    """More than the threshold of the current branch's messages sit outside the recent
    window, after the summary the branch uses (``used``, when the caller has it; else one
    query, short conversation or long, so a chat reply costs the same queries however
    long the chat)."""
    if used is None:
        used = kept_summaries.for_branch(
            conversation=conversation, leaf_id=conversation.current_message_id
        )
    outside = used.outside(recent=settings.NUMINA_CONTEXT_RECENT_MESSAGES)
    return outside >= settings.NUMINA_SUMMARY_THRESHOLD


def _begin(
    *,
    user,
    message: Any,
    conversation_id: Any,
    client_id: Any,
    parent_id: Any = None,
    attachments: Any = None,
) -> tuple[Conversation, Message, Message | None]:
    content, clean_client_id, clean_attachments = _clean_request(
        message=message, client_id=client_id, attachments=attachments
    )
    if conversation_id is not None and access.as_uuid(conversation_id) is None:
        raise Conversation.DoesNotExist
    # NO_PARENT in a new conversation is what its first message is anyway.
    if parent_id is not None and parent_id is not NO_PARENT and conversation_id is None:
        raise ValidationError({"parent_id": ["Needs the conversation_id it belongs to."]})
    spend.ensure_within_budget(user=user)
    conversation, user_message, created = _store_user_message(
        user=user,
        conversation_id=conversation_id,
        content=content,
        client_id=clean_client_id,
        parent_id=parent_id,
        attachments=clean_attachments,
    )
    existing_reply = None if created else _reply_to(user_message)
    return conversation, user_message, existing_reply


def _unavailable(
    conversation: Conversation, user_message: Message, exc: llm.LLMError
) -> AssistantUnavailable:
    logger.warning("Chat reply failed for conversation %s: %s", conversation.id, exc)
    return AssistantUnavailable(
        conversation=conversation, user_message=user_message, reason=str(exc)
    )


def _answered(
    *,
    user,
    conversation: Conversation,
    user_message: Message,
    completion: llm.Completion,
    regenerated: bool = False,
) -> tuple[Conversation, Message]:
    """Charge the reply to the user's budget, then store it: ``(conversation, reply)``."""
    spend.record_usage(user=user, completion=completion)
    try:
        return _store_reply(
            user=user, user_message=user_message, completion=completion, regenerated=regenerated
        )
    except Conversation.DoesNotExist:
        logger.info("Conversation %s was deleted while its reply was written", conversation.id)
        raise AssistantUnavailable(
            conversation=conversation,
            user_message=user_message,
            reason="The conversation was deleted while the reply was being written.",
            code=CONVERSATION_DELETED,
        ) from None


def chat(
    *,
    user,
    message: str,
    conversation_id: Any = None,
    client_id: uuid.UUID | str | None = None,
    parent_id: Any = None,
    attachments: list[str] | None = None,
) -> ChatResult:
    """Send the user's message and return it with the assistant's reply.

    With ``parent_id`` (a message of ``conversation_id``) the message goes after that
    one instead of after the current message: sending the new text of message M with
    M's parent is how M is edited (the new message is M's sibling, a new version)."""
    conversation, user_message, existing_reply = _begin(
        user=user,
        message=message,
        conversation_id=conversation_id,
        client_id=client_id,
        parent_id=parent_id,
        attachments=attachments,
    )
    if existing_reply is not None:
        return ChatResult(conversation, user_message, existing_reply, created=False)
    built = context.build_context(conversation=conversation, leaf_id=user_message.id, user=user)
    try:
        completion = llm.get_provider().reply(system=built.system, messages=_request(user, built))
        conversation, reply = _answered(
            user=user, conversation=conversation, user_message=user_message, completion=completion
        )
    except llm.LLMError as exc:
        raise _unavailable(conversation, user_message, exc) from exc
    return ChatResult(conversation, user_message, reply)


def stream_chat(
    *,
    user,
    message: str,
    conversation_id: Any = None,
    client_id: uuid.UUID | str | None = None,
    parent_id: Any = None,
    attachments: list[str] | None = None,
) -> Iterator[TextDelta | ChatResult]:
    """As ``chat``, yielding the reply's text as it arrives, then the ``ChatResult``.

    Raises ``AssistantUnavailable`` (possibly after some deltas) when the model fails or
    the conversation is deleted meanwhile, ``TokenBudgetExceeded`` before anything is
    stored when the user's budget for today is spent.
    """
    conversation, user_message, existing_reply = _begin(
        user=user,
        message=message,
        conversation_id=conversation_id,
        client_id=client_id,
        parent_id=parent_id,
        attachments=attachments,
    )
    if existing_reply is not None:
        yield TextDelta(existing_reply.content)
        yield ChatResult(conversation, user_message, existing_reply, created=False)
        return
    yield from _stream_reply(user=user, conversation=conversation, user_message=user_message)


def _stream_reply(
    *, user, conversation: Conversation, user_message: Message, regenerated: bool = False
) -> Iterator[TextDelta | ChatResult]:
    """Ask the model along the branch that ends at ``user_message``, yielding the text,
    then store the reply under it and yield the ``ChatResult``."""
    built = context.build_context(conversation=conversation, leaf_id=user_message.id, user=user)
    try:
        for event in llm.get_provider().stream_reply(
            system=built.system, messages=_request(user, built)
        ):
            if isinstance(event, llm.Completion):
                conversation, reply = _answered(
                    user=user,
                    conversation=conversation,
                    user_message=user_message,
                    completion=event,
                    regenerated=regenerated,
                )
                yield ChatResult(conversation, user_message, reply)
            elif event:
                yield TextDelta(event)
    except llm.LLMError as exc:
        raise _unavailable(conversation, user_message, exc) from exc


def _regeneration(*, user, message_id: Any) -> tuple[Conversation, Message]:
    """The conversation and the message a regenerated reply answers: the parent of the
    assistant message ``message_id``. ``Message.DoesNotExist`` (a 404) for anything not
    the user's; ``ValidationError`` for a message that is not a reply."""
    message_uuid = access.as_uuid(message_id)
    reply = (
        access.owned_messages(user=user).filter(pk=message_uuid).select_related("parent").first()
        if message_uuid is not None
        else None
    )
    if reply is None:
        raise Message.DoesNotExist
    if reply.role != Role.ASSISTANT:
        raise ValidationError({"message_id": ["Only a reply of the assistant can be regenerated."]})
    # The model is asked to answer the branch up to the reply's parent: it must end with
    # the user's turn, or the request would ask the model to continue its own words.
    if reply.parent is None or reply.parent.role != Role.USER:
        raise ValidationError(
            {"message_id": ["This reply follows no message of the user to answer again."]}
        )
    spend.ensure_within_budget(user=user)
    conversation = access.conversation_for(user=user, conversation_id=reply.conversation_id)
    return conversation, reply.parent


def regenerate(*, user, message_id: Any) -> ChatResult:
    """A new version of the assistant's reply ``message_id``: made from the branch before
    it, stored as its sibling, and made current. A model failure stores nothing and
    changes nothing (``AssistantUnavailable``); two at once make two siblings."""
    conversation, answered = _regeneration(user=user, message_id=message_id)
    built = context.build_context(conversation=conversation, leaf_id=answered.id, user=user)
    try:
        completion = llm.get_provider().reply(system=built.system, messages=_request(user, built))
        conversation, reply = _answered(
            user=user,
            conversation=conversation,
            user_message=answered,
            completion=completion,
            regenerated=True,
        )
    except llm.LLMError as exc:
        raise _unavailable(conversation, answered, exc) from exc
    return ChatResult(conversation, answered, reply)


def stream_regenerate(*, user, message_id: Any) -> Iterator[TextDelta | ChatResult]:
    """As ``regenerate``, yielding the new reply's text as it arrives, then the result."""
    conversation, answered = _regeneration(user=user, message_id=message_id)
    yield from _stream_reply(
        user=user, conversation=conversation, user_message=answered, regenerated=True
    )
