"""Issue 18: a conversation's standing ``instructions`` (empty for every existing row) and
share links (``ShareLink``: a hashed token and the snapshot's last message).

A column with a constant default is a catalogue change in PostgreSQL 11+ (no table
rewrite), so this is quick on a large table; the new table starts empty.
"""

import uuid

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0013_files'),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='instructions',
            field=models.TextField(blank=True, default=''),
        ),
        migrations.CreateModel(
            name='ShareLink',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('token_hash', models.CharField(max_length=64, unique=True)),
                ('last_message_id', models.UUIDField()),
                ('title', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='share_links', to='conversations.conversation')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
    ]
