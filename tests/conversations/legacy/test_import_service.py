"""The import service on its own: the locked path stays the word on every write."""

import pytest

from conversations.legacy.base import make_message
from conversations.models import Conversation
from conversations.services.legacy_import import (
    import_legacy_conversation,
    stored_conversations,
)

pytestmark = pytest.mark.django_db


def _messages(*contents):
    return [make_message(raw=c.encode(), role="user", content=c) for c in contents]


def test_stale_hint_that_a_key_is_new_falls_back_to_the_locked_path(user):
    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a"))

    # As if a concurrent run created the conversation after this run's batch lookup.
    outcome = import_legacy_conversation(
        user=user, legacy_key="k", messages=_messages("a", "b"), stored=None
    )

    assert (outcome.created, outcome.imported, outcome.already_present) == (False, 1, 1)
    assert Conversation.objects.get().message_count == 2


def test_batch_lookup_returns_owner_summary_and_newest_fingerprints(user):
    import_legacy_conversation(
        user=user, legacy_key="k", messages=_messages("a", "b", "c"), summary="s"
    )

    stored = stored_conversations(legacy_keys=["k", "missing"], limit=2)

    assert list(stored) == ["k"]
    expected = tuple(m.fingerprint for m in _messages("b", "c"))
    assert (stored["k"].owner_id, stored["k"].summary, stored["k"].fingerprints) == (
        user.pk,
        "s",
        expected,
    )


def test_every_write_moves_the_owners_change_stream(user):
    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a"))
    first = Conversation.objects.get().change_seq

    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a", "b"))

    assert Conversation.objects.get().change_seq > first


def test_unchanged_key_with_a_hint_writes_nothing(user):
    import_legacy_conversation(user=user, legacy_key="k", messages=_messages("a"))
    before = Conversation.objects.get()
    (hint,) = stored_conversations(legacy_keys=["k"], limit=1).values()

    outcome = import_legacy_conversation(
        user=user, legacy_key="k", messages=_messages("a"), stored=hint
    )

    after = Conversation.objects.get()
    assert (outcome.imported, outcome.already_present) == (0, 1)
    assert (after.change_seq, after.updated_at) == (before.change_seq, before.updated_at)
