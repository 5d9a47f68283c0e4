"""WSGI entry point (HTTP only; the platform is normally served over ASGI by Daphne)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deepchain_web.settings.dev")
application = get_wsgi_application()
