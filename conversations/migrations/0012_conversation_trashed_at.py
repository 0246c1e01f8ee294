"""The trash (issue 15): ``Conversation.trashed_at``, null for every existing row (none is
in the trash), and two partial indexes over the trashed rows only: the user's trash list,
newest first (also what the messages' "not in the trash" filter reads), and the purge's
scan by age across users. A nullable column with no default is a catalogue change in
PostgreSQL (no table rewrite), and the partial indexes start empty.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0011_import_keys_and_jobs'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='conversation',
            name='trashed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(condition=models.Q(('trashed_at__isnull', False)), fields=['owner', '-trashed_at', '-id'], name='conv_owner_trash'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(condition=models.Q(('trashed_at__isnull', False)), fields=['trashed_at'], name='conv_trash_purge'),
        ),
    ]
