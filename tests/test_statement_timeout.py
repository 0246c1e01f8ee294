"""NUMINA_STATEMENT_TIMEOUT_MS: the web's connections cut a long statement, and a request
whose statement was cut answers 503 ``database_timeout``, not 500."""

import os
import time

import pytest
from django.db import OperationalError, connections
from django.db.backends.signals import connection_created

from conversations import services
from conversations.models import Message
from numina import startup


@pytest.fixture
def web_connections(settings):
    """Database connections as the web opens them (wsgi.py / asgi.py call this)."""
    settings.NUMINA_STATEMENT_TIMEOUT_MS = 300
    startup.limit_statement_time()
    connections["default"].close()  # the next query opens a connection of the web's kind
    yield
    connection_created.disconnect(dispatch_uid=startup.STATEMENT_TIMEOUT_UID)
    connections["default"].close()


@pytest.mark.parametrize("entry_point", ["numina.asgi", "numina.wsgi"])
def test_the_web_entry_points_install_the_statement_timeout(entry_point):
    # In a fresh process: this one may have imported both already (the ASGI test server).
    from tests.test_settings import run_django_setup

    result = run_django_setup(
        f"import {entry_point}\n"
        "from django.db.backends.signals import connection_created\n"
        "from numina import startup\n"
        "assert connection_created.disconnect(dispatch_uid=startup.STATEMENT_TIMEOUT_UID)",
        SECRET_KEY=os.environ["SECRET_KEY"],
        DEBUG="false",
    )
    assert result.returncode == 0, result.stderr


def test_connections_outside_the_web_have_no_statement_timeout(db):
    # Migrations, migrate_conversations and the worker never load wsgi.py / asgi.py.
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.mark.django_db(transaction=True)
def test_web_connection_cuts_a_statement_past_the_timeout(web_connections):
    started = time.monotonic()
    with pytest.raises(OperationalError), connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 2


@pytest.mark.django_db(transaction=True)
def test_statement_timeout_zero_means_no_limit(settings):
    settings.NUMINA_STATEMENT_TIMEOUT_MS = 0
    startup.limit_statement_time()
    connections["default"].close()
    with connections["default"].cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"


@pytest.fixture
def locked_conversation(user):
    """A conversation whose row another connection holds locked, as a long write would."""
    conversation = services.create_conversation(user=user, title="busy")
    other = connections.create_connection("default")
    other.connect()
    other.connection.execute(
        "BEGIN; SELECT 1 FROM conversations_conversation WHERE id = %s FOR UPDATE",
        [conversation.id],
    )
    yield conversation
    other.connection.execute("ROLLBACK")
    other.close()


@pytest.mark.django_db(transaction=True)
def test_request_whose_statement_is_cut_answers_503(api, locked_conversation, web_connections):
    started = time.monotonic()
    response = api.post(
        f"/api/v1/conversations/{locked_conversation.id}/messages/",
        {"role": "user", "content": "waits for the lock"},
        format="json",
    )
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The database took too long to answer; try again.",
        "code": "database_timeout",
    }
    assert response["Retry-After"] == "1"
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_browser_request_whose_statement_is_cut_answers_503(
    client, user, locked_conversation, web_connections
):
    client.force_login(user)
    response = client.post(
        f"/chats/{locked_conversation.id}/rename/", {"title": "renamed while locked"}
    )
    assert response.status_code == 503
    assert b"took too long" in response.content
