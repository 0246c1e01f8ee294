"""Fixtures for the tests that talk to the model (a loopback fake of the Messages API)
and for the follow-up work the services enqueue."""

import pytest

from conversations import followups
from tests.fake_anthropic import FakeAnthropic


@pytest.fixture
def claude(settings):
    """Numina pointed at a fake Messages API on 127.0.0.1 (a dummy key, fast retries)."""
    fake = FakeAnthropic().start()
    settings.ANTHROPIC_API_KEY = "sk-ant-test-dummy"
    settings.ANTHROPIC_BASE_URL = fake.base_url
    settings.ANTHROPIC_MODEL = "claude-test-model"
    settings.ANTHROPIC_MAX_TOKENS = 321
    settings.ANTHROPIC_TIMEOUT = 2.0
    settings.ANTHROPIC_MAX_RETRIES = 2
    yield fake
    fake.stop()


@pytest.fixture
def offline(settings):
    settings.ANTHROPIC_API_KEY = ""


@pytest.fixture
def enqueued(monkeypatch):
    """The tasks asked for (after commit, or by the sweeper), recorded by name, not sent."""
    sent = []
    monkeypatch.setattr(
        followups,
        "send",
        lambda *, task_name, conversation_id, countdown=None: sent.append(task_name),
    )
    return sent
