"""Message metadata (API.md: a JSON object of at most 16 KB, nested at most 32 levels,
numbers finite), enforced in validation.py and reached through the services."""

import math
import time

import pytest
from django.core.exceptions import ValidationError

from conversations import services, validation
from conversations.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(user):
    return services.create_conversation(user=user)


def nested(levels: int) -> dict:
    """A metadata object ``levels`` deep (itself being level 1), built without recursion."""
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def add(user, conversation, metadata):
    return services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="hi", metadata=metadata
    )


def test_metadata_nested_32_levels_is_kept(user, conversation):
    added = add(user, conversation, nested(32))
    added.message.refresh_from_db()
    assert added.message.metadata == nested(32)


@pytest.mark.parametrize("levels", [33, 350, 100_000])
def test_metadata_nested_past_32_levels_is_refused(user, conversation, levels):
    with pytest.raises(ValidationError) as caught:
        add(user, conversation, nested(levels))
    assert caught.value.message_dict == {
        "metadata": ["Ensure this object is nested no more than 32 levels deep."]
    }
    assert not Message.objects.exists()


def test_metadata_depth_limit_is_a_setting(user, conversation, settings):
    settings.NUMINA_METADATA_MAX_DEPTH = 3
    add(user, conversation, nested(3))
    with pytest.raises(ValidationError):
        add(user, conversation, {"a": [[[1]]]})


def test_metadata_depth_check_stops_at_the_limit_however_deep(user):
    # 100,000 levels (past Python's recursion limit) cost no more than a few levels: the
    # check stops at the first container past the limit.
    deep = nested(100_000)
    started = time.perf_counter()
    with pytest.raises(ValidationError):
        validation.clean_metadata(deep)
    assert time.perf_counter() - started < 0.05


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_metadata_numbers_must_be_finite(user, conversation, number):
    with pytest.raises(ValidationError) as caught:
        add(user, conversation, {"deep": {"list": [1, 2.5, number]}})
    assert caught.value.message_dict == {"metadata": ["Numbers must be finite."]}
    assert not Message.objects.exists()


def test_metadata_with_large_integers_and_unicode_is_kept_as_is(user, conversation):
    metadata = {"big": 12345678901234567890123, "text": "héron 🐦", "ok": [True, None, 1.5]}
    added = add(user, conversation, metadata)
    added.message.refresh_from_db()
    assert added.message.metadata == metadata


@pytest.mark.parametrize(
    "metadata", [{"k": "\ud800"}, {"\udfff": 1}, {"k": ["\x00"]}, {"k": {1, 2}}, {1: "x"}]
)
def test_metadata_that_jsonb_cannot_store_is_refused(user, conversation, metadata):
    with pytest.raises(ValidationError) as caught:
        add(user, conversation, metadata)
    assert list(caught.value.message_dict) == ["metadata"]
    assert not Message.objects.exists()
