"""The device's UUID, now filled for every row (0004), becomes unique and required."""

import uuid

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_every_token_has_a_device'),
    ]

    operations = [
        migrations.AlterField(
            model_name='devicename',
            name='device_id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
