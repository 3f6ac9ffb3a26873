"""Create the local key file and Django secret of the embedded default, if none are configured."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from lifeline.core import crypto

WARNING = """
################################################################################
#  WARNING: Lifeline generated its encryption keys in a local file:            #
#      {path:<72}#
#  Anyone who copies this file together with the database can read every      #
#  application. That is acceptable for a demo or a laptop, NOT for the         #
#  hotline: in production give LIFELINE_KEYS, LIFELINE_BLIND_INDEX_KEY and    #
#  LIFELINE_CODENAME_PEPPER from a secret store (see README, "Production").    #
#  Losing this file makes every encrypted field unreadable: back it up apart   #
#  from the database.                                                          #
################################################################################
"""


class Command(BaseCommand):
    help = "Create var/keys.json and var/django_secret_key if no keys are configured."

    def handle(self, *args: Any, **options: Any) -> None:
        var_dir = Path(settings.VAR_DIR)
        var_dir.mkdir(parents=True, exist_ok=True)
        secret_file = var_dir / "django_secret_key"
        if not os.environ.get("DJANGO_SECRET_KEY") and not secret_file.exists():
            fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
        if settings.LIFELINE_KEYS:
            self.stdout.write("Keys come from the environment (LIFELINE_KEYS); no key file made.")
            return
        if not settings.LIFELINE_KEY_FILE:
            self.stderr.write("No LIFELINE_KEYS and no LIFELINE_KEY_FILE: nothing to do.")
            return
        path = Path(settings.LIFELINE_KEY_FILE)
        if path.exists():
            crypto.read_key_file(path)  # fails loudly if the file is damaged
            self.stdout.write(f"Keeping the existing key file {path}.")
            return
        crypto.write_key_file(path, crypto.new_keyring())
        self.stderr.write(self.style.WARNING(WARNING.format(path=str(path))))
