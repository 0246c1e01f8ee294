"""Issue 18: a conversation's standing ``instructions`` (empty for every existing row).

A column with a constant default is a catalogue change in PostgreSQL 11+ (no table
rewrite), so this is quick on a large table.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0012_conversation_trashed_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='instructions',
            field=models.TextField(blank=True, default=''),
        ),
    ]
