"""Every API token gets its DeviceName row (an empty name for tokens issued without one)
and every row its own UUID; see 0003."""

import uuid

from django.conf import settings
from django.db import migrations


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
        ('accounts', '0003_devicename_device_id'),
        ('knox', '0009_extend_authtoken_field'),
    ]

    operations = [
        migrations.RunPython(give_every_token_a_device, migrations.RunPython.noop),
    ]
