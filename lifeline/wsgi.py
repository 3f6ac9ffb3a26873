"""WSGI entry point (gunicorn in production: deploy/systemd/lifeline-web.service).

The Telegram webhook is answered ahead of Django's middleware (lifeline/channels/webhook_wsgi.py);
every other request goes through Django as usual."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifeline.settings.prod")

django_application = get_wsgi_application()

from lifeline.channels.webhook_wsgi import WebhookFirst  # noqa: E402 - needs Django set up

application = WebhookFirst(django_application)
