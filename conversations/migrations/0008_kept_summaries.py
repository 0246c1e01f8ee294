"""Summaries are kept per branch point (ConversationSummary), and each conversation's
stored summary becomes its first kept one: it covers the message with seq
``summary_covers_seq`` (after 0007 every conversation is one straight branch, so that is
the path it was made from), or no message when that is 0 (a legacy summary).

Batched by conversation as 0007 is (each batch its own transaction); a batch skips the
conversations that already keep a summary, so a cut-off run resumes where it stopped.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models, transaction

BATCH = 500


def keep_existing_summaries(apps, schema_editor) -> None:
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    ConversationSummary = apps.get_model("conversations", "ConversationSummary")
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    conversations = quote(Conversation._meta.db_table)
    messages = quote(Message._meta.db_table)
    summaries = quote(ConversationSummary._meta.db_table)
    last_id = None
    while True:
        ids = Conversation.objects.exclude(summary="").order_by("id")
        if last_id is not None:
            ids = ids.filter(id__gt=last_id)
        batch = list(ids.values_list("id", flat=True)[:BATCH])
        if not batch:
            return
        last_id = batch[-1]
        keys = [key.hex if connection.vendor == "sqlite" else key for key in batch]
        marks = ", ".join(["%s"] * len(keys))
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            # Table names are the models' own, quoted; the ids are parameters. A seq with
            # no message (never written so) would claim to cover nothing: left out.
            cursor.execute(
                f"INSERT INTO {summaries} (conversation_id, covers_id, depth, text, created_at) "  # noqa: S608
                f"SELECT c.id, m.id, COALESCE(m.depth, 0), c.summary, c.updated_at "
                f"FROM {conversations} c LEFT JOIN {messages} m "
                f"ON m.conversation_id = c.id AND m.seq = c.summary_covers_seq "
                f"WHERE c.id IN ({marks}) AND (c.summary_covers_seq = 0 OR m.id IS NOT NULL) "
                f"AND NOT EXISTS (SELECT 1 FROM {summaries} s WHERE s.conversation_id = c.id)",
                keys,
            )


class Migration(migrations.Migration):
    # Each batch commits on its own (see the docstring).
    atomic = False

    dependencies = [
        ("conversations", "0007_straight_branches"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConversationSummary",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("depth", models.PositiveIntegerField(default=0)),
                ("text", models.TextField()),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="kept_summaries",
                        to="conversations.conversation",
                    ),
                ),
                (
                    "covers",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="conversations.message",
                    ),
                ),
            ],
            options={
                "ordering": ["conversation", "created_at", "id"],
            },
        ),
        migrations.RunPython(keep_existing_summaries, migrations.RunPython.noop, elidable=True),
    ]
