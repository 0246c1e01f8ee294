"""Numina's model counters on /metrics move with real work (the loopback fake Claude)."""

import pytest
from prometheus_client import REGISTRY

from conversations import services, tasks
from tests.fake_anthropic import Fail, Reply

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def conversation(user):
    conversation = services.create_conversation(user=user)
    services.add_message(
        user=user, conversation_id=conversation.id, role="user", content="Plan Kyoto"
    )
    return conversation


def test_model_tokens_are_counted_from_the_responses_usage(user, conversation, claude):
    before_in = sample("numina_model_tokens_total", direction="in")
    before_out = sample("numina_model_tokens_total", direction="out")
    claude.answer(Reply("Sure.", input_tokens=52, output_tokens=3))
    services.chat(user=user, conversation_id=conversation.id, message="Go on")
    assert sample("numina_model_tokens_total", direction="in") == before_in + 52
    assert sample("numina_model_tokens_total", direction="out") == before_out + 3


def test_a_generated_title_is_counted(conversation, claude):
    before = sample("numina_titles_total", outcome="generated")
    claude.answer(Reply("Kyoto trip"))
    tasks.generate_title.apply(args=[str(conversation.id)])
    assert sample("numina_titles_total", outcome="generated") == before + 1


def test_a_failed_title_is_counted_and_falls_back(conversation, claude, settings):
    settings.NUMINA_TASK_MAX_RETRIES = 0
    failed = sample("numina_titles_total", outcome="failed")
    fallback = sample("numina_titles_total", outcome="fallback")
    claude.answer(Fail(400))
    tasks.generate_title.apply(args=[str(conversation.id)])
    assert sample("numina_titles_total", outcome="failed") == failed + 1
    assert sample("numina_titles_total", outcome="fallback") == fallback + 1
