"""The GIN index behind message full-text search, on PostgreSQL only.

It is not declared in Message.Meta because the embedded default runs on SQLite, which
has no GIN. Superseded by 0003 (owner + stored vector), which drops it; kept so the
migration history of existing databases stays valid. The expression was
(to_tsvector('english', coalesce(content, ''))) for the planner to use it.
CONCURRENTLY is not used: migrations run before the web starts, on a table that a new
deployment starts empty (large existing tables: build it by hand with CONCURRENTLY first,
the IF NOT EXISTS makes this migration a no-op then).
"""

from django.db import migrations

INDEX = "message_content_search"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON conversations_message USING gin "
        "(to_tsvector('english'::regconfig, COALESCE(content, '')))"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]
    operations = [migrations.RunPython(create_index, drop_index)]
