"""``python manage.py telegram_poll``: long polling for installs without a public address.
Updates go into the same inbox as the webhook's; the offset moves on only after they are
committed, so a crash never loses one."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifeline.channels.telegram import new_bot, store_update


def poll(stop: threading.Event, *, timeout: int = 25) -> None:
    loop = asyncio.new_event_loop()
    bot = new_bot()
    offset = None
    try:
        loop.run_until_complete(bot.delete_webhook(drop_pending_updates=False))
        while not stop.is_set():
            try:
                updates = loop.run_until_complete(
                    bot.get_updates(
                        offset=offset,
                        timeout=timeout,
                        allowed_updates=["message", "edited_message", "callback_query"],
                    )
                )
            except Exception:  # network trouble: wait and ask again; nothing is lost
                stop.wait(5)
                continue
            for update in updates:
                store_update(update.model_dump(mode="json", exclude_none=True, by_alias=True))
                offset = update.update_id + 1
    finally:
        loop.run_until_complete(bot.session.close())
        loop.close()


class Command(BaseCommand):
    help = "Fetch Telegram updates by long polling into the inbox (no public address needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--timeout", type=int, default=25)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("set TELEGRAM_BOT_TOKEN first")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        poll(stop, timeout=options["timeout"])
