"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

from numina.startup import limit_statement_time, refuse_unsafe_secret_key

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "numina.settings")
application = get_asgi_application()
refuse_unsafe_secret_key()  # runserver loads this module too
limit_statement_time()
