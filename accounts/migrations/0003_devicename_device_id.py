"""Every API token gets a DeviceName row with a public UUID (GET /api/v1/auth/devices/).

Added nullable, filled one UUID per row (a callable default would give every existing row
the same one), then made unique; tokens issued without a device name get an empty one.
"""

import uuid

from django.conf import settings
from django.db import migrations, models


def give_every_token_a_device(apps, schema_editor):
    app_label, model_name = settings.KNOX_TOKEN_MODEL.split(".")
    AuthToken = apps.get_model(app_label, model_name)
    DeviceName = apps.get_model("accounts", "DeviceName")
    named = DeviceName.objects.values("token_id")
    DeviceName.objects.bulk_create(
        DeviceName(token_id=digest, name="")
        for digest in AuthToken.objects.exclude(pk__in=named).values_list("pk", flat=True)
    )
    for device in DeviceName.objects.filter(device_id__isnull=True):
        device.device_id = uuid.uuid4()
        device.save(update_fields=["device_id"])


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_devicename'),
        ('knox', '0009_extend_authtoken_field'),
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
        migrations.RunPython(give_every_token_a_device, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='devicename',
            name='device_id',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
