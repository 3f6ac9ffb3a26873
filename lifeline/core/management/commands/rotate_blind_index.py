"""Rotate the blind-index key: re-index every row under the newest key, while look-ups match
either key; resumable; then drop the old key.

1. ``rotate_blind_index --add-key`` (a key file), or put the new key first in
   LIFELINE_BLIND_INDEX_KEY ("<new>,<old>") and restart: writes use the new key, look-ups
   try both (:func:`lifeline.core.crypto.lookup`).
2. ``rotate_blind_index`` re-indexes every row in batches, each in its own transaction. Rows
   already under the new key are read but not written again, so an interrupted run is simply
   started again; search keeps working throughout.
3. ``rotate_blind_index --finish`` checks that no row is left under an old key and drops the
   old keys from the key file (or says to drop them from the environment).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from lifeline.core import bulk, crypto, keystore
from lifeline.core.fields import Sealed
from lifeline.core.models import SealedModel


def reindexed_models() -> list[type[SealedModel]]:
    return [m for m in apps.get_models() if issubclass(m, SealedModel) and m.reindex_columns]


def reindex(
    model: type[SealedModel], *, batch: int, write: bool = True, after: Any = None
) -> tuple[int, int]:
    """(rows read, rows whose indexes changed) over the whole table, a batch per transaction,
    in primary-key order from ``after``; ``write=False`` only counts."""
    columns = list(model.reindex_columns)
    seen = changed = 0
    manager = model._default_manager
    while True:
        with transaction.atomic():
            qs = manager.order_by("pk")
            if after is not None:
                qs = qs.filter(pk__gt=after)
            rows = list(qs.select_for_update()[:batch] if write else qs[:batch])
            if not rows:
                return seen, changed
            _warm_keys(model, rows)
            stale = []
            for row in rows:
                before = [getattr(row, c) for c in columns]
                try:
                    row.reindex()
                except crypto.BlindIndexError:
                    continue  # an unusable value: it had no index either
                if [getattr(row, c) for c in columns] != before:
                    stale.append(row)
            if stale and write:
                bulk.update(
                    model,
                    [{"pk": row.pk, **{c: getattr(row, c) for c in columns}} for row in stale],
                )
            seen += len(rows)
            changed += len(stale)
            after = rows[-1].pk


def blocked_numbers_left() -> list[tuple[str, int]]:
    """Models keeping an index without its plaintext (``index_key``): how many rows are under
    an older key."""
    current = crypto.blind_index_key_id()
    found = []
    for model in apps.get_models():
        if any(f.name == "index_key" for f in model._meta.concrete_fields):
            stuck = model._default_manager.exclude(index_key=current).exclude(number_index="")
            if count := stuck.count():
                found.append((model._meta.label, count))
    return found


def _warm_keys(model: type[SealedModel], rows: list[SealedModel]) -> None:
    """The batch's data keys, read from the key store in one query instead of one a row."""
    wanted = set()
    fields = model.encrypted_fields()
    for row in rows:
        for field in fields:  # a row's fields share its owner's key: the first one names it
            value = row.__dict__.get(field.attname)
            if isinstance(value, Sealed):
                if key := crypto.token_data_key(value.token):
                    wanted.add(key)
                break
    keystore.store().warm(wanted)


class Command(BaseCommand):
    help = (
        "Re-index every blind index under the newest blind-index key (look-ups accept the old "
        "key meanwhile). --add-key first adds a new key to the key file; --finish checks that "
        "nothing is left under an old key and drops it. Safe to interrupt and run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--add-key", action="store_true", help="add a new blind-index key to the key file"
        )
        parser.add_argument(
            "--finish",
            action="store_true",
            help="check every row is re-indexed, then drop the old keys from the key file",
        )
        parser.add_argument("--batch", type=int, default=1000, help="rows per transaction")

    def _key_file(self) -> Path:
        if not settings.LIFELINE_KEY_FILE or settings.LIFELINE_KEYS:
            raise CommandError(
                "--add-key and --finish work on a key file. With the environment, put the new "
                "key first in LIFELINE_BLIND_INDEX_KEY ('<new>,<old>'), restart, run "
                "rotate_blind_index, then remove the old key and restart again."
            )
        return Path(settings.LIFELINE_KEY_FILE)

    def handle(self, *args: Any, **options: Any) -> None:
        batch = max(1, int(options["batch"]))
        if options["add_key"]:
            path = self._key_file()
            ring = crypto.add_blind_index_key(crypto.read_key_file(path))
            crypto.write_key_file(path, ring)
            crypto.set_keyring(ring)
            self.stdout.write(
                f"Added a new blind-index key to {path}; the old one is kept for look-ups. "
                "Restart the services so that they write under the new key, then run "
                "rotate_blind_index."
            )
            return
        ring = crypto.keyring()
        if options["finish"]:
            left = sum(reindex(m, batch=batch, write=False)[1] for m in reindexed_models())
            if left:
                raise CommandError(
                    f"{left} rows are not yet under the newest key: run rotate_blind_index first"
                )
            for label, stuck in blocked_numbers_left():
                self.stderr.write(
                    f"{label}: {stuck} blocked numbers did not call during the rotation and are "
                    "kept only under the old key (the number itself is never stored): re-enter "
                    "them, or they stop matching once the old key is gone."
                )
            if not ring.old_blind_index_keys:
                self.stdout.write("No old blind-index key is configured: nothing to drop.")
                return
            path = self._key_file()
            crypto.write_key_file(
                path, crypto.drop_old_blind_index_keys(crypto.read_key_file(path))
            )
            crypto.set_keyring(None)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Every row is under the newest blind-index key; the old keys are gone from "
                    f"{path}. Restart the services."
                )
            )
            return
        started = time.monotonic()
        total = 0
        for model in reindexed_models():
            seen, changed = reindex(model, batch=batch)
            total += changed
            self.stdout.write(f"{model._meta.label}: {seen} rows read, {changed} re-indexed")
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {time.monotonic() - started:.1f} s: {total} rows re-indexed under the "
                "newest blind-index key. Run rotate_blind_index --finish to drop the old key."
            )
        )
