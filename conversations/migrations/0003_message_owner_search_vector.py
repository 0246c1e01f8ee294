"""Per-user message search: the owner on each message, a stored tsvector, and one GIN
index over both (btree_gin), replacing 0002's expression index.

Search is "this user's messages matching q, best first". With the expression index,
PostgreSQL found every user's matching messages and then threw away the others', and
recomputed to_tsvector for each one to rank it; with (owner_id, search_vector) it reads
only this user's matches and ranks them from the stored vector.
The vector is kept by PostgreSQL's own tsvector_update_trigger, so rows written by COPY
(benchmarks, the legacy migration) are indexed the same as the ORM's. PostgreSQL only:
the SQLite embedded default searches with a substring match.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import BtreeGinExtension
from django.contrib.postgres.search import SearchVectorField
from django.db import migrations, models

TRIGGER = "conversations_message_search_vector"
INDEX = "message_owner_search"


def fill_owner(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    Conversation = apps.get_model("conversations", "Conversation")
    Message.objects.update(
        owner=models.Subquery(Conversation.objects.filter(id=models.OuterRef("conversation_id")).values("owner")[:1])
    )


def create_search(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The owner fill above left deferred foreign-key checks queued in this transaction,
    # and PostgreSQL refuses CREATE INDEX on a table with pending trigger events.
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    schema_editor.execute("DROP INDEX IF EXISTS message_content_search")
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE OF content ON conversations_message "
        "FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.english', content)"
    )
    schema_editor.execute("UPDATE conversations_message SET content = content")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON conversations_message USING gin (owner_id, search_vector)"
    )


def drop_search(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON conversations_message")


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("conversations", "0002_message_search_index"),
    ]

    operations = [
        BtreeGinExtension(),
        migrations.AddField(
            model_name="message",
            name="owner",
            field=models.ForeignKey(
                null=True, db_index=False, on_delete=django.db.models.deletion.CASCADE,
                related_name="+", to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(fill_owner, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="message",
            name="owner",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE,
                related_name="+", to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="search_vector",
            field=SearchVectorField(editable=False, null=True),
        ),
        migrations.RunPython(create_search, drop_search),
    ]
