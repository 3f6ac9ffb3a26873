"""WSGI entry point (gunicorn in production: deploy/systemd/lifeline-web.service)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifeline.settings.prod")

application = get_wsgi_application()
