"""Every existing conversation becomes one straight branch: each message's parent is the
message stored before it, its depth is its place in the conversation, and the current
message is the newest.

Batched by conversation (``BATCH`` conversations a statement, each batch its own
transaction), so a table of millions of messages is never held in one transaction and
a cut-off run resumes where it stopped: a batch only touches messages still without a
parent and conversations still without a current message. Window functions give
parent and depth in one pass even if an old row broke the gapless ``seq`` rule.
"""

from django.db import migrations, models, transaction

BATCH = 500


def link_branches(apps, schema_editor) -> None:
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    connection = schema_editor.connection
    messages = connection.ops.quote_name(Message._meta.db_table)
    conversations = connection.ops.quote_name(Conversation._meta.db_table)
    last_id = None
    while True:
        ids = Conversation.objects.order_by("id")
        if last_id is not None:
            ids = ids.filter(id__gt=last_id)
        batch = list(ids.values_list("id", flat=True)[:BATCH])
        if not batch:
            return
        last_id = batch[-1]
        keys = [key.hex if connection.vendor == "sqlite" else key for key in batch]
        marks = ", ".join(["%s"] * len(keys))
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            # Table names are the models' own, quoted; the ids are parameters.
            cursor.execute(
                f"UPDATE {messages} SET parent_id = linked.parent_id, depth = linked.depth "  # noqa: S608
                f"FROM (SELECT id, LAG(id) OVER w AS parent_id, ROW_NUMBER() OVER w AS depth "
                f"FROM {messages} WHERE conversation_id IN ({marks}) "
                f"WINDOW w AS (PARTITION BY conversation_id ORDER BY seq)) AS linked "
                f"WHERE {messages}.id = linked.id AND {messages}.parent_id IS NULL "
                f"AND linked.parent_id IS NOT NULL",
                keys,
            )
            cursor.execute(
                f"UPDATE {conversations} SET current_message_id = ("  # noqa: S608
                f"SELECT id FROM {messages} m WHERE m.conversation_id = {conversations}.id "
                f"ORDER BY m.seq DESC LIMIT 1) "
                f"WHERE id IN ({marks}) AND current_message_id IS NULL",
                keys,
            )


class Migration(migrations.Migration):
    # Each batch commits on its own (see the docstring).
    atomic = False

    dependencies = [("conversations", "0006_message_tree")]

    operations = [
        migrations.RunPython(link_branches, migrations.RunPython.noop, elidable=True),
        # Created after the backfill, when it holds only the real first messages.
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("parent__isnull", True)),
                fields=["conversation", "seq"],
                name="message_roots",
            ),
        ),
    ]
