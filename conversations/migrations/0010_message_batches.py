"""Sync carries messages (MessageBatch: the messages each write stored, at its change
number), and the messages stored before now become one batch per conversation, at the
conversation's change number: a sync from the beginning gets each conversation and all
of its messages at one point of the stream, and a client whose token is past that
point already held the conversation (it fetched those messages the old way).

Batched by conversation as 0007 is (each batch its own transaction); a batch skips the
conversations that already have a batch, so a cut-off run resumes where it stopped.
Conversations never stamped with a change number (0: none of sync's business) are left
out, as sync leaves them out. Run before the new code serves (as every migration is),
since a write of the new code records its own batch.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models, transaction

BATCH = 500


def record_stored_messages(apps, schema_editor) -> None:
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    MessageBatch = apps.get_model("conversations", "MessageBatch")
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    conversations = quote(Conversation._meta.db_table)
    messages = quote(Message._meta.db_table)
    batches = quote(MessageBatch._meta.db_table)
    last_id = None
    while True:
        ids = Conversation.objects.filter(message_count__gt=0, change_seq__gt=0).order_by("id")
        if last_id is not None:
            ids = ids.filter(id__gt=last_id)
        batch = list(ids.values_list("id", flat=True)[:BATCH])
        if not batch:
            return
        last_id = batch[-1]
        keys = [key.hex if connection.vendor == "sqlite" else key for key in batch]
        marks = ", ".join(["%s"] * len(keys))
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            # Table names are the models' own, quoted; the ids are parameters. MIN and MAX,
            # not 1 and message_count: 0007 met old rows that broke the gapless seq rule.
            cursor.execute(
                f"INSERT INTO {batches} (owner_id, conversation_id, change_seq, first_seq, "  # noqa: S608
                f"last_seq) SELECT c.owner_id, c.id, c.change_seq, MIN(m.seq), MAX(m.seq) "
                f"FROM {conversations} c JOIN {messages} m ON m.conversation_id = c.id "
                f"WHERE c.id IN ({marks}) "
                f"AND NOT EXISTS (SELECT 1 FROM {batches} b WHERE b.conversation_id = c.id) "
                f"GROUP BY c.id, c.owner_id, c.change_seq",
                keys,
            )


class Migration(migrations.Migration):
    # Each batch commits on its own (see the docstring).
    atomic = False

    dependencies = [
        ("conversations", "0009_conversation_client_id"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="MessageBatch",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("change_seq", models.BigIntegerField()),
                ("first_seq", models.PositiveIntegerField()),
                ("last_seq", models.PositiveIntegerField()),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="conversations.conversation",
                    ),
                ),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("owner", "change_seq"), name="message_batch_unique_change"
                    )
                ],
            },
        ),
        migrations.RunPython(record_stored_messages, migrations.RunPython.noop, elidable=True),
    ]
