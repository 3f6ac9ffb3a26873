"""How to reach the hotline, for every public page, from settings (no release to change them)."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from .pages import PAGES

_BOT = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


def reach(request: HttpRequest) -> dict[str, Any]:
    bot = settings.LIFELINE_BOT_USERNAME.lstrip("@")
    return {
        "bot_username": bot if _BOT.fullmatch(bot) else "",
        "phone_numbers": [
            (number, "tel:" + re.sub(r"[^0-9+]", "", number))
            for number in settings.LIFELINE_PHONE_NUMBERS
        ],
        "mirrors": list(settings.LIFELINE_MIRRORS),
        "site_pages": [(slug, label) for slug, label in PAGES.items()],
    }
