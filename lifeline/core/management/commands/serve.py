"""Serve Lifeline (the embedded default): one uvicorn process on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Serve the public side and the console with uvicorn (ASGI)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="web only: another process runs the worker (on SQLite, run one worker only)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import threading

        import uvicorn
        from django.conf import settings

        from lifeline.channels import worker

        # The embedded default: the worker (and Telegram polling, given a token) in this process.
        if options["no_worker"]:
            stop = threading.Event()
            polling = "off (--no-worker)"
        else:
            _thread, stop = worker.start_in_thread()
            polling = "off (no TELEGRAM_BOT_TOKEN: web chat only)"
        if settings.TELEGRAM_BOT_TOKEN and not options["no_worker"]:
            from lifeline.channels.management.commands.telegram_poll import poll

            threading.Thread(target=poll, args=(stop,), name="telegram-poll", daemon=True).start()
            polling = "on (long polling)"
        host, port = options["host"], options["port"]
        self.stdout.write(
            f"Lifeline is up:\n  public side  http://{host}:{port}/\n"
            f"  web chat     http://{host}:{port}/chat/\n"
            f"  console      http://{host}:{port}/console/  (log in with a demo account above)\n"
            f"  telegram     {polling}\n"
            "Press Ctrl+C to stop."
        )
        try:
            uvicorn.run(
                "lifeline.asgi:application",
                host=host,
                port=port,
                access_log=False,
                log_level="warning",
                lifespan="off",
            )
        finally:
            stop.set()
