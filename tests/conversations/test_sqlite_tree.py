"""The tree on the embedded SQLite default (no DATABASE_URL): its own process, since the
suite's database is PostgreSQL. See sqlite_tree_check.py for what it runs."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_migration_legacy_import_and_import_build_the_tree_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'numina.sqlite3'}",
        "DEBUG": "true",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.conversations.sqlite_tree_check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [
        "migration",
        "ok",
        "legacy",
        "ok",
        "import",
        "ok",
        "sync",
        "ok",
        "reads",
        "ok",
    ]
