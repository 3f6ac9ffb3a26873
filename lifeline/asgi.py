"""ASGI entry point (uvicorn in the embedded default and in production)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifeline.settings.dev")

application = get_asgi_application()
