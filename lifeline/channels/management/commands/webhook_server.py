"""``python manage.py webhook_server``: the Telegram webhook's own accept server (PostgreSQL).

Production runs it beside the web application (deploy/systemd/lifeline-webhook.service); the
reverse proxy sends ``/telegram/webhook/`` to it. See :mod:`lifeline.channels.webhook_server`
and docs/performance.md for why it exists."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection


class Command(BaseCommand):
    help = "Serve the Telegram webhook alone: durable accept, updates committed together."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)
        parser.add_argument("--workers", type=int, default=2, help="processes (one per core)")

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        if connection.vendor != "postgresql":
            raise CommandError(
                "the accept server needs PostgreSQL; the embedded default (SQLite) answers the "
                "webhook in its own server (manage.py serve)"
            )
        uvicorn.run(
            "lifeline.channels.webhook_asgi:application",
            factory=True,
            host=options["host"],
            port=options["port"],
            workers=max(1, options["workers"]),
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,  # no addresses in logs
            log_level="warning",
            backlog=2048,
        )
