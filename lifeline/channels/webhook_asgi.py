"""The webhook's accept server as an ASGI application factory, for uvicorn (``--factory``):
Django is set up first, then :mod:`lifeline.channels.webhook_server` is imported (its models
need the app registry). Started by ``manage.py webhook_server``."""

from __future__ import annotations

import os
from typing import Any


def application() -> Any:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lifeline.settings.prod")
    django.setup()
    from lifeline.channels.webhook_server import WebhookApp

    return WebhookApp()
