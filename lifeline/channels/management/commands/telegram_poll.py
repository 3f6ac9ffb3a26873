"""``python manage.py telegram_poll``: long polling for installs without a public address.
Updates go into the same inbox as the webhook's; the offset moves on only after they are
committed, so a crash never loses one."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifeline.channels import botapi
from lifeline.channels.telegram import HANDLED_UPDATES, new_api, store_update
from lifeline.channels.telegram_accept import NotAnUpdate

log = logging.getLogger(__name__)


def poll(stop: threading.Event, *, timeout: int = 25) -> None:
    loop = asyncio.new_event_loop()
    api = new_api()
    offset: int | None = None
    try:
        loop.run_until_complete(api.call("deleteWebhook", {"drop_pending_updates": False}))
        while not stop.is_set():
            try:
                updates = loop.run_until_complete(
                    api.call(
                        "getUpdates",
                        {
                            "offset": offset,
                            "timeout": timeout,
                            "allowed_updates": list(HANDLED_UPDATES),
                        },
                        timeout=timeout + 10,
                    )
                )
            except botapi.BotApiError as exc:  # network trouble: wait and ask again
                log.warning("getUpdates failed (%s); trying again", type(exc).__name__)
                stop.wait(5)
                continue
            for update in updates if isinstance(updates, list) else []:
                update_id = update.get("update_id") if isinstance(update, dict) else None
                if not isinstance(update_id, int) or isinstance(update_id, bool):
                    continue  # nothing to store and no offset to move past
                try:
                    store_update(update)
                except NotAnUpdate:
                    log.warning("an update Lifeline cannot read was dropped")
                offset = update_id + 1
    finally:
        loop.run_until_complete(api.close())
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
