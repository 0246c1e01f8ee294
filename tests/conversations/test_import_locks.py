"""An import must not hold the user's change-counter lock while it inserts: every other
write of that user takes the same lock, so a large import would stall them all."""

import threading

import pytest
from django.db import connection, connections

from conversations import services
from conversations.models import Conversation
from conversations.services import NewMessage

PAUSE_KEY = 4_111_001


@pytest.fixture
def paused_message_inserts(transactional_db):
    """A statement trigger that makes every insert into the messages table wait on an
    advisory lock the test holds: the import is caught mid-insert, in PostgreSQL itself."""
    table = connection.ops.quote_name("conversations_message")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION numina_test_pause() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_advisory_lock({PAUSE_KEY}); "
            f"PERFORM pg_advisory_unlock({PAUSE_KEY}); RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER numina_test_pause BEFORE INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION numina_test_pause()"
        )
        cursor.execute("SELECT pg_advisory_lock(%s)", [PAUSE_KEY])
    yield
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock_all()")
        cursor.execute(f"DROP TRIGGER IF EXISTS numina_test_pause ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS numina_test_pause()")


def _waiting_on_pause() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND objid = %s",
            [PAUSE_KEY],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_other_writes_of_the_user_go_on_while_an_import_inserts(user, paused_message_inserts):
    other = services.create_conversation(user=user, title="Other")
    outcome: dict = {}

    def run_import() -> None:
        try:
            outcome["conversation"] = services.import_conversation(
                user=user,
                title="Imported",
                tags=["from-file"],
                messages=[NewMessage(role="user", content=f"m{i}") for i in range(200)],
            )
        except Exception as exc:  # noqa: BLE001 (the assertion below reports it)
            outcome["error"] = exc
        finally:
            connections.close_all()

    importer = threading.Thread(target=run_import)
    importer.start()
    try:
        for _ in range(200):
            if _waiting_on_pause():
                break
            threading.Event().wait(0.02)
        assert _waiting_on_pause(), "the import never reached its message insert"

        # The rename takes the user's change counter; it must not wait for the import.
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        try:
            services.rename_conversation(user=user, conversation_id=other.id, title="Renamed")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = 0")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [PAUSE_KEY])
        importer.join(timeout=30)

    assert "error" not in outcome, outcome.get("error")
    imported = Conversation.objects.get(id=outcome["conversation"].id)
    renamed = Conversation.objects.get(id=other.id)
    assert renamed.title == "Renamed"
    assert imported.message_count == 200
    # The import took its change number last, so it comes after the rename in the stream.
    assert imported.change_seq > renamed.change_seq
