"""Search filters (issue 18): ``message_owner_created``, a user's messages by time, for
search's ``after`` / ``before`` and the statistics by month.

The other filters need no index of their own: ``conversation_id`` reads the messages'
conversation index, ``tag`` the tag and its conversations' indexes, ``role`` narrows the
rows the owner's search index finds (three values: an index would not be selective).

Built with CREATE INDEX CONCURRENTLY on PostgreSQL (the messages table is the largest:
a plain CREATE INDEX would hold writes back for as long as it runs), so this migration
is not atomic; the SQLite embedded default builds it plainly.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex


class AddIndexWithoutBlockingWrites(AddIndexConcurrently):
    """CONCURRENTLY where PostgreSQL is the database, a plain index anywhere else."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("conversations", "0014_share_links_instructions"),
    ]

    operations = [
        AddIndexWithoutBlockingWrites(
            model_name="message",
            index=models.Index(fields=["owner", "created_at"], name="message_owner_created"),
        ),
    ]
