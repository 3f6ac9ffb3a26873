"""Move everything to the newest root key: re-wrap the data keys in the key store (the fields
they seal stay as they are), and re-encrypt the fields sealed under the root key itself (those
with no case or contact: inbound events, channel posts). Safe to interrupt and re-run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from lifeline.core import crypto, keystore
from lifeline.core.fields import Sealed
from lifeline.core.models import SealedModel


def sealed_models() -> list[type[SealedModel]]:
    return [m for m in apps.get_models() if issubclass(m, SealedModel) and m.encrypted_fields()]


def stale_pks(model: type[SealedModel], version: int, after: Any, limit: int) -> list[Any]:
    """Primary keys after ``after`` whose root-key ciphertexts are not all under ``version``
    (a data key's ``lf2`` tokens count as current: their key is re-wrapped instead)."""
    columns = [f.attname for f in model.encrypted_fields()]
    qs = model._default_manager.order_by("pk")
    if after is not None:
        qs = qs.filter(pk__gt=after)
    found: list[Any] = []
    for row in qs.values_list("pk", *columns).iterator(chunk_size=500):
        if any(
            isinstance(v, Sealed) and crypto.token_version(v.token) not in (0, version)
            for v in row[1:]
        ):
            found.append(row[0])
            if len(found) >= limit:
                break
    return found


class Command(BaseCommand):
    help = (
        "Re-encrypt every row to the newest key version. With --add-key, first add a new key "
        "version to the local key file. Rows already under the newest key are skipped, so an "
        "interrupted run can simply be started again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--add-key",
            action="store_true",
            help="add a new, newest key version to the key file first (key-file installs)",
        )
        parser.add_argument("--batch", type=int, default=200, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["add_key"]:
            if not settings.LIFELINE_KEY_FILE or settings.LIFELINE_KEYS:
                raise CommandError(
                    "--add-key works on a key file. With LIFELINE_KEYS, append a new "
                    "'N:<base64>' version to it and run rotate_keys again."
                )
            path = Path(settings.LIFELINE_KEY_FILE)
            ring = crypto.add_key_version(crypto.read_key_file(path))
            crypto.write_key_file(path, ring)
            crypto.set_keyring(ring)
            self.stdout.write(f"Added key version {ring.current_version} to {path}.")
        ring = crypto.keyring()
        version = ring.current_version
        rewrapped = keystore.store().rewrap(batch=options["batch"])
        self.stdout.write(f"Key store: {rewrapped} data keys re-wrapped")
        total = 0
        for model in sealed_models():
            done = 0
            after = None
            while True:
                pks = stale_pks(model, version, after, options["batch"])
                if not pks:
                    break
                with transaction.atomic():
                    for obj in model._default_manager.select_for_update().filter(pk__in=pks):
                        obj.save(update_fields=[f.name for f in model.encrypted_fields()])
                        done += 1
                after = pks[-1]
            if done:
                self.stdout.write(f"{model._meta.label}: {done} rows re-encrypted")
            total += done
        remaining = sum(len(stale_pks(m, version, None, 1)) for m in sealed_models())
        if remaining or keystore.store().stale_count():
            raise CommandError("some rows are still under an older key; run rotate_keys again")
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {total} rows re-encrypted; every row is under key version {version}."
            )
        )
