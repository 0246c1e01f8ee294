"""The command's surface: the text report, exit status, options, the terminal bar."""

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from .conftest import LEGACY_REDIS_URL
from .writers import llamaindex_add

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def test_text_report_lists_counts_skips_and_bad_items(legacy_redis, user):
    llamaindex_add("chat", "user", "hi")
    legacy_redis.rpush("chat", b"\xff")
    legacy_redis.set("junk", "x")
    out = io.StringIO()

    with pytest.raises(CommandError) as failed:
        call_command(
            "migrate_conversations",
            *("--redis-url", LEGACY_REDIS_URL, "--user", user.username),
            stdout=out,
        )

    text = out.getvalue()
    assert failed.value.returncode == 1
    assert "messages imported:" in text
    assert "skipped, unknown layout: 1" in text
    assert "chat item 1: not UTF-8" in text


def test_clean_run_exits_zero(legacy_redis, migrate, user):
    llamaindex_add("chat", "user", "hi")

    assert migrate("--user", user.username).exit_code == 0


def test_dry_run_and_delete_source_exclude_each_other(legacy_redis, user):
    with pytest.raises(CommandError, match="exclude"):
        call_command(
            "migrate_conversations",
            *("--redis-url", LEGACY_REDIS_URL, "--dry-run", "--delete-source"),
        )


def test_redis_url_database_number_is_honoured(legacy_redis, migrate, user):
    llamaindex_add("chat", "user", "hi")
    other_db = LEGACY_REDIS_URL.rsplit("/", 1)[0] + "/15"

    out = io.StringIO()
    call_command(
        "migrate_conversations",
        *("--redis-url", other_db, "--user", user.username, "--match", "chat", "--json"),
        stdout=out,
    )

    assert '"keys_scanned": 0' in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_progress_bar_is_drawn_on_a_terminal_only(legacy_redis, user):
    llamaindex_add("chat", "user", "hi")
    command = [
        sys.executable,
        "manage.py",
        "migrate_conversations",
        *("--redis-url", LEGACY_REDIS_URL, "--user", user.username, "--dry-run"),
    ]
    env = {**os.environ, "DATABASE_URL": _database_url()}

    piped = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    primary, secondary = pty.openpty()
    on_tty = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=secondary, text=True
    )
    os.close(secondary)
    terminal = _read_all(primary)

    assert piped.returncode == on_tty.returncode == 0
    assert "migrating" not in piped.stderr
    assert "migrating" in terminal
    assert "keys" in terminal
    assert "Dry run" in on_tty.stdout


def _read_all(fd: int) -> str:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: the terminal's other end is closed and drained
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def _database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


def test_batch_size_of_one_still_reads_every_key(legacy_redis, migrate, user):
    for n in range(5):
        llamaindex_add(f"chat:{n}", "user", f"hi {n}")

    run = migrate("--user", user.username, "--batch-size", "1")

    assert (run.report["keys_scanned"], run.report["conversations_created"]) == (5, 5)


def test_batch_conversations_below_one_is_refused(legacy_redis, user):
    with pytest.raises(CommandError, match="--batch-conversations must be at least 1"):
        call_command(
            "migrate_conversations",
            *("--redis-url", LEGACY_REDIS_URL, "--user", user.username),
            *("--batch-conversations", "0"),
        )


def test_batch_conversations_option_sets_the_transaction_size(legacy_redis, migrate, user):
    for n in range(5):
        llamaindex_add(f"chat:{n}", "user", f"hi {n}")

    run = migrate("--user", user.username, "--batch-conversations", "2")

    assert (run.report["keys_scanned"], run.report["conversations_created"]) == (5, 5)


def test_key_without_messages_is_skipped_as_empty(legacy_redis, migrate, user):
    legacy_redis.set("conversation:quiet", '{"sessionId": "quiet", "messages": []}')

    run = migrate("--user", user.username)

    assert run.report["skipped"] == {"empty": 1}
    assert run.exit_code == 0


def test_unreachable_legacy_redis_is_a_clear_error(user):
    with pytest.raises(CommandError, match=r"Legacy Redis at redis://127\.0\.0\.1:1/0"):
        call_command(
            "migrate_conversations", "--redis-url", "redis://127.0.0.1:1/0", "--user", user.username
        )
