"""Issue 15, backups: ops/backup.sh dumps the database (keeping the newest
NUMINA_BACKUP_KEEP), and ops/restore.sh puts a dump into a fresh database where every
conversation and message is found again. Real pg_dump, pg_restore and PostgreSQL."""

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from conversations import services
from conversations.models import Conversation, Message
from tests.deploy.compose import ROOT
from tests.factories import UserFactory

# Committed rows, for the dump to see. No skip without pg_dump: .ci/run installs it
# (postgresql-client-15), and a backup never tested is no backup.
pytestmark = pytest.mark.django_db(transaction=True)

BACKUP = ROOT / "ops" / "backup.sh"
RESTORE = ROOT / "ops" / "restore.sh"
TIMEOUT = 120  # caps a hang; nothing is timed


def url_of(database: str) -> str:
    settings = connection.settings_dict
    port = settings.get("PORT") or 5432
    return f"postgres://{settings['USER']}@{settings['HOST']}:{port}/{database}"


def suite_database_url() -> str:
    return url_of(connection.settings_dict["NAME"])


def run(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(script), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def dumps_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".dump"))


@pytest.fixture
def fresh_database():
    """A uniquely named empty database, dropped afterwards whatever happened."""
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    admin = url_of("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_pg_dump_matches_the_servers_major_version():
    # An older pg_dump refuses a newer server; .ci/run installs postgresql-client-15.
    client = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True, check=True)
    with connection.cursor() as cursor:
        cursor.execute("show server_version_num")
        server_major = int(cursor.fetchone()[0]) // 10000
    client_major = int(client.stdout.split()[2].split(".")[0])
    assert client_major >= server_major, client.stdout


def test_a_dump_restored_into_a_fresh_database_has_every_conversation_and_message(
    tmp_path, fresh_database
):
    for person in (UserFactory(), UserFactory()):
        for n in range(3):
            conversation = services.create_conversation(user=person, title=f"Chat {n}")
            for m in range(4):
                services.add_message(
                    user=person,
                    conversation_id=conversation.id,
                    role="user" if m % 2 == 0 else "assistant",
                    content=f"message {m} of chat {n}",
                )
    conversations = set(Conversation.objects.values_list("id", "owner_id", "title"))
    messages = set(Message.objects.values_list("id", "conversation_id", "content"))
    assert (len(conversations), len(messages)) == (6, 24)

    backed_up = run(
        BACKUP, env={"DATABASE_URL": suite_database_url(), "NUMINA_BACKUP_DIR": str(tmp_path)}
    )
    assert backed_up.returncode == 0, backed_up.stderr
    [dump] = dumps_in(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]

    restored = run(RESTORE, str(tmp_path / dump), url_of(fresh_database), env={})
    assert restored.returncode == 0, restored.stderr

    with psycopg.connect(url_of(fresh_database)) as conn:
        got_conversations = set(
            conn.execute(
                f"select id, owner_id, title from {Conversation._meta.db_table}"  # noqa: S608
            ).fetchall()
        )
        got_messages = set(
            conn.execute(
                f"select id, conversation_id, content from {Message._meta.db_table}"  # noqa: S608
            ).fetchall()
        )
    assert got_conversations == conversations
    assert got_messages == messages


def test_backup_keeps_the_newest_dumps_only(tmp_path):
    env = {
        "DATABASE_URL": suite_database_url(),
        "NUMINA_BACKUP_DIR": str(tmp_path),
        "NUMINA_BACKUP_KEEP": "2",
    }
    made = []
    for _ in range(3):
        done = run(BACKUP, env=env)
        assert done.returncode == 0, done.stderr
        made.append(done.stdout.split("wrote ")[1].split()[0].rsplit("/", 1)[1])
    assert dumps_in(tmp_path) == sorted(made[1:])  # the oldest went


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set DATABASE_URL"),
        ({"NUMINA_BACKUP_KEEP": "0"}, "NUMINA_BACKUP_KEEP must be a whole number"),
        ({"NUMINA_BACKUP_KEEP": "seven"}, "NUMINA_BACKUP_KEEP must be a whole number"),
        ({"NUMINA_BACKUP_INTERVAL_SECONDS": "-1"}, "NUMINA_BACKUP_INTERVAL_SECONDS must be"),
    ],
)
def test_backup_refuses_bad_settings(tmp_path, env, message):
    if env:
        env = {"DATABASE_URL": suite_database_url(), **env}
    done = run(BACKUP, env={"NUMINA_BACKUP_DIR": str(tmp_path), **env})
    assert done.returncode != 0
    assert message in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_failed_dump_leaves_no_file(tmp_path):
    env = {"DATABASE_URL": url_of("no_such_database_here"), "NUMINA_BACKUP_DIR": str(tmp_path)}
    done = run(BACKUP, env=env)
    assert done.returncode != 0
    assert "pg_dump failed" in done.stderr
    assert not list(tmp_path.iterdir())


def test_restore_refuses_a_database_that_is_not_empty(tmp_path):
    run(BACKUP, env={"DATABASE_URL": suite_database_url(), "NUMINA_BACKUP_DIR": str(tmp_path)})
    [dump] = dumps_in(tmp_path)
    done = run(RESTORE, str(tmp_path / dump), suite_database_url(), env={})
    assert done.returncode == 1
    assert "restore into a fresh one" in done.stderr


def test_restore_refuses_what_is_not_a_dump(tmp_path, fresh_database):
    not_a_dump = tmp_path / "notes.dump"
    not_a_dump.write_text("SELECT 1;")
    done = run(RESTORE, str(not_a_dump), url_of(fresh_database), env={})
    assert done.returncode == 2
    assert "is not a pg_dump custom-format dump" in done.stderr
    missing = run(RESTORE, str(tmp_path / "missing.dump"), url_of(fresh_database), env={})
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    assert run(RESTORE, env={}).returncode == 2  # no dump named: the usage
