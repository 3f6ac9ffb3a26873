"""``python manage.py telegram_setup --url https://hotline.example``: register the webhook, the
command menu and the bot's descriptions in Russian, Ukrainian and English."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import override

from lifeline.channels import botapi
from lifeline.channels.telegram import HANDLED_UPDATES, new_api

LANGUAGES = ("ru", "uk", "en")
#: What Telegram accepts as a webhook's secret token; long enough not to be guessed.
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,256}")


def texts(language: str) -> dict[str, Any]:
    with override(language):
        return {
            "commands": [
                {"command": "start", "description": _("Start again")},
                {"command": "lang", "description": _("Change the language")},
                {"command": "forget", "description": _("Erase my data")},
            ],
            "description": _(
                "The «I want to live» hotline: for servicemen who do not want to "
                "fight, and their families. Confidential, 24 hours a day."
            ),
            "short": _("Confidential help for those who do not want to fight."),
        }


class Command(BaseCommand):
    help = "Register the webhook (with its secret token), commands and descriptions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            help="public https address of this install; omit to "
            "only set commands and descriptions (polling)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("set TELEGRAM_BOT_TOKEN first")
        if options["url"] and not SECRET_TOKEN.fullmatch(settings.TELEGRAM_WEBHOOK_SECRET):
            raise CommandError(
                "set TELEGRAM_WEBHOOK_SECRET first: 32 to 256 characters of A-Z, a-z, 0-9, _ "
                "and - (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        asyncio.run(self._setup(options["url"]))
        self.stdout.write(self.style.SUCCESS("Telegram bot configured."))

    async def _setup(self, url: str | None) -> None:
        api = new_api()
        try:
            if url:
                # The address holds no secret; Telegram sends it in a header on every update.
                await api.call(
                    "setWebhook",
                    {
                        "url": url.rstrip("/") + reverse("channels:telegram_webhook"),
                        "secret_token": settings.TELEGRAM_WEBHOOK_SECRET,
                        "allowed_updates": list(HANDLED_UPDATES),
                    },
                )
            for language in LANGUAGES:
                t = texts(language)
                code = None if language == "ru" else language  # Russian is the default
                await api.call("setMyCommands", {"commands": t["commands"], "language_code": code})
                await api.call(
                    "setMyDescription", {"description": t["description"], "language_code": code}
                )
                await api.call(
                    "setMyShortDescription",
                    {"short_description": t["short"], "language_code": code},
                )
        except botapi.BotApiError as exc:
            raise CommandError(f"Telegram refused: {exc}") from None
        finally:
            await api.close()
