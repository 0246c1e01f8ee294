"""WSGI entry point (gunicorn numina.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from numina.startup import freeze_startup_objects, limit_statement_time, refuse_unsafe_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
application = get_wsgi_application()
refuse_unsafe_secret_key()  # runserver loads this module too
limit_statement_time()
freeze_startup_objects()  # last: after everything the start loads
