"""The Celery app: broker on Redis, configuration from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")

app = Celery("numina")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
