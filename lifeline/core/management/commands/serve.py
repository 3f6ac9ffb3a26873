"""Serve Lifeline (the embedded default): one uvicorn process on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the public side and the console with uvicorn (ASGI)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        host, port = options["host"], options["port"]
        self.stdout.write(
            f"Lifeline is up:\n  public side  http://{host}:{port}/\n"
            f"  console      http://{host}:{port}/console/  (log in with a demo account above)\n"
            "Press Ctrl+C to stop."
        )
        uvicorn.run(
            "lifeline.asgi:application",
            host=host,
            port=port,
            access_log=False,
            log_level="warning",
            lifespan="off",
        )
