"""``python manage.py asterisk_ami``: follow an Asterisk PBX through its manager interface."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lifeline.phone import asterisk


class Command(BaseCommand):
    help = "Turn Asterisk AMI events into Lifeline's CTI events (reconnects by itself)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("ASTERISK_AMI_HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("ASTERISK_AMI_PORT", "5038"))
        )
        parser.add_argument("--username", default=os.environ.get("ASTERISK_AMI_USERNAME", ""))
        parser.add_argument("--pbx", default="asterisk", help="the name calls are recorded under")

    def handle(self, *args: Any, **options: Any) -> None:
        secret = os.environ.get("ASTERISK_AMI_SECRET", "")
        if not options["username"] or not secret:
            raise CommandError("set ASTERISK_AMI_USERNAME and ASTERISK_AMI_SECRET")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        asterisk.run(
            stop,
            host=options["host"],
            port=options["port"],
            username=options["username"],
            secret=secret,
            pbx=options["pbx"],
        )
