"""Small jobs the benchmark asks of Lifeline itself, run as a child process with the same
production settings as the servers and workers:

    python -m bench.lifeline_helper path            # the webhook's path, as JSON
    python -m bench.lifeline_helper seed CHATS INPUTS FIRST_UPDATE_ID
                                                    # store CHATS x INPUTS updates in the inbox
"""

from __future__ import annotations

import json
import sys
import time

import django


def webhook_path() -> dict[str, object]:
    """The webhook's path. Its contract is ``/telegram/webhook/`` authenticated by the
    ``X-Telegram-Bot-Api-Secret-Token`` header alone; older trees also put the secret in the
    path (``/telegram/webhook/<secret>/``): both are understood."""
    from django.conf import settings
    from django.urls import NoReverseMatch, reverse

    try:
        return {"path": reverse("channels:telegram_webhook"), "secret_in_path": False}
    except NoReverseMatch:
        path = reverse(
            "channels:telegram_webhook", kwargs={"secret": settings.TELEGRAM_WEBHOOK_SECRET}
        )
        return {"path": path, "secret_in_path": True}


def seed(chats: int, inputs: int, first_update_id: int) -> dict[str, object]:
    """A backlog as a busy bot receives it: every chat's first message, then every chat's
    second, and so on; each chat types the intake form's answers in order (``INTAKE``)."""
    from lifeline.channels.telegram import store_update

    from .updates import INTAKE, update

    start = time.perf_counter()
    update_id = first_update_id
    stored = 0
    for round_ in range(inputs):
        text = INTAKE[round_ % len(INTAKE)]
        for chat in range(chats):
            update_id += 1
            if store_update(update(update_id, 710_000_000 + chat, text)):
                stored += 1
    return {"stored": stored, "seconds": time.perf_counter() - start}


def main() -> None:
    django.setup()
    command, *args = sys.argv[1:]
    if command == "path":
        result = webhook_path()
    elif command == "seed":
        result = seed(int(args[0]), int(args[1]), int(args[2]))
    else:
        raise SystemExit(f"unknown command {command!r}")
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
