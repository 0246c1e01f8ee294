"""The model-facing fixtures of tests/conversations (the loopback Messages API …)."""

from tests.conversations.conftest import claude, enqueued, offline  # noqa: F401
