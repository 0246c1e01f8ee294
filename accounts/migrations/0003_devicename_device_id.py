"""A public UUID for every API token's device (GET /api/v1/auth/devices/), in three
steps as Django advises for a unique field on existing rows: added nullable here, filled
in 0004 (a callable default would give every existing row the same one), made unique in
0005. Separate migrations: PostgreSQL refuses to alter a table in the transaction that
has just written its rows.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_devicename'),
    ]

    operations = [
        migrations.AlterField(
            model_name='devicename',
            name='name',
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name='devicename',
            name='device_id',
            field=models.UUIDField(editable=False, null=True),
        ),
    ]
