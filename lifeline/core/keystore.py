"""The key store: a data key per case, contact and conversation, kept apart from the database.

Each case, contact (his addresses), conversation (its transcript), call and call back has its
own random 256-bit data key. Its fields are sealed under that key (``lf2`` tokens,
:mod:`lifeline.core.crypto`). The data key itself is stored here wrapped by the root key (an
``lf1`` token of the key ring), in a small database of its own: a SQLite file by default
(``LIFELINE_KEYSTORE``, a path), or a PostgreSQL database (``postgres://...``) that is NOT on
the main database's server and is backed up apart from it, with a short retention
(docs/operations.md, "Backups").

Erasing a person or an application destroys the key (:func:`shred`): every copy of the main
database, every older backup of it included, then holds ciphertexts nothing can open. Rotating
the root key re-wraps the data keys (:func:`rewrap`), a few bytes a key, without re-encrypting a
single field.

The owner row (``Case.data_key``, ``Contact.data_key``) names its key. A key that is to be
destroyed is first written down in the main database (:class:`~lifeline.core.models.KeyShred`)
in the same transaction as the erasure, then deleted here once that transaction commits; the
purge deletes any the process did not live to delete.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from . import crypto

#: Seconds a process keeps an unwrapped key in memory (a destroyed key lingers no longer than
#: this in a process that read it before; it is gone from the store at once).
CACHE_SECONDS = 600.0
CACHE_MAX = 50_000

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS data_keys ("
    " id TEXT PRIMARY KEY, wrapped TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,"
    " purpose TEXT NOT NULL DEFAULT '')"
)
#: ``purpose`` of the keys that seal what arrives, an hour's worth each (:func:`inbox_key`).
INBOX = "inbox"


@dataclass(frozen=True)
class DataKey:
    id: uuid.UUID
    key: bytes

    def __repr__(self) -> str:  # never print key material
        return f"DataKey({self.id})"


class KeyErasedError(crypto.DecryptionError):
    """The data key of this ciphertext was destroyed: what it sealed was erased."""


def _wrap(key_id: uuid.UUID, raw: bytes, ring: crypto.KeyRing | None = None) -> str:
    return crypto.encrypt(raw, table="keystore", column="data_key", pk=key_id.hex, ring=ring)


def _unwrap(key_id: str, wrapped: str, ring: crypto.KeyRing | None = None) -> bytes:
    return crypto.decrypt(wrapped, table="keystore", column="data_key", pk=key_id, ring=ring)


class _Backend(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def compact(self) -> bool: ...


class _SQLite:
    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fresh = not Path(path).exists()
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        if fresh:
            os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        # A key lost to a power cut after the main database committed rows sealed under it
        # would lose that person: every commit reaches the disk (key writes are few).
        self.db.execute("PRAGMA synchronous=FULL")
        # A deleted key's bytes are overwritten in the file, not just unlinked from the b-tree.
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(data_keys)")}
        if "purpose" not in columns:  # a store made before inbox keys
            self.db.execute("ALTER TABLE data_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT ''")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(sql, rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def compact(self) -> bool:
        """The write-ahead log may still hold a destroyed key's page: fold it in and empty it.
        False when a reader (a backup, say) kept it from finishing: try again later."""
        self.db.execute("PRAGMA busy_timeout=2000")
        try:
            busy = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        finally:
            self.db.execute("PRAGMA busy_timeout=30000")
        return busy == 0


class _Postgres:
    def __init__(self, url: str) -> None:
        import psycopg

        self.db = psycopg.connect(url, autocommit=True, connect_timeout=10)
        self.db.execute(_SCHEMA)
        self.db.execute(
            "ALTER TABLE data_keys ADD COLUMN IF NOT EXISTS purpose TEXT NOT NULL DEFAULT ''"
        )

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self.db.execute(self._sql(sql), params)
        return cursor.fetchall() if cursor.description else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.db.transaction(), self.db.cursor() as cursor:
            cursor.executemany(self._sql(sql), list(rows))

    def compact(self) -> bool:
        # Dead rows keep a destroyed key until vacuumed (and the server's own write-ahead log
        # until recycled: no WAL archiving for the key store, docs/operations.md).
        self.db.execute("VACUUM data_keys")
        return True


class KeyStore:
    """The data keys of one install. Thread-safe; a forked process opens its own connection."""

    def __init__(self, location: str) -> None:
        self.location = location
        self._local = threading.local()
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "KeyStore(postgres)" if self._is_postgres else f"KeyStore({self.location})"

    @property
    def _is_postgres(self) -> bool:
        return self.location.startswith(("postgres://", "postgresql://"))

    def _db(self) -> _Backend:
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            self._local.db = (
                _Postgres(self.location) if self._is_postgres else _SQLite(self.location)
            )
            self._local.pid = pid
        db: _Backend = self._local.db
        return db

    # --- keys -------------------------------------------------------------------------------
    def create(self, count: int = 1, *, purpose: str = "") -> list[DataKey]:
        """``count`` fresh keys, stored wrapped under the newest root key before they are used."""
        ring = crypto.keyring()
        keys = [DataKey(uuid.uuid4(), os.urandom(crypto.KEY_BYTES)) for _ in range(count)]
        now = time.time()
        self._db().executemany(
            "INSERT INTO data_keys (id, wrapped, created_at, purpose) VALUES (?, ?, ?, ?)",
            [(k.id.hex, _wrap(k.id, k.key, ring), now, purpose) for k in keys],
        )
        with self._lock:
            for k in keys:
                self._remember(k.id.hex, k.key)
        return keys

    def _remember(self, key_id: str, raw: bytes) -> None:
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[key_id] = (time.monotonic(), raw)

    def get(self, key_id: uuid.UUID | str) -> DataKey:
        """The key, unwrapped; :class:`KeyErasedError` if it was destroyed (or never existed)."""
        key_id = key_id if isinstance(key_id, uuid.UUID) else uuid.UUID(key_id)
        return DataKey(key_id, self.raw_key(key_id.hex))

    def raw_key(self, hex_id: str) -> bytes:
        """The key's bytes by its id in hex (32 lower-case digits, as tokens name it)."""
        cached = self._cache.get(hex_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        rows = self._db().execute("SELECT wrapped FROM data_keys WHERE id = ?", (hex_id,))
        if not rows:
            with self._lock:
                self._cache.pop(hex_id, None)
            raise KeyErasedError(f"data key {hex_id} was destroyed: what it sealed is erased")
        raw = _unwrap(hex_id, rows[0][0])
        with self._lock:
            self._remember(hex_id, raw)
        return raw

    def warm(self, key_ids: Iterable[uuid.UUID]) -> None:
        """Read many keys into this process's memory in one query (a batch about to be read)."""
        with self._lock:
            now = time.monotonic()
            wanted = sorted(
                {
                    k.hex
                    for k in key_ids
                    if k.hex not in self._cache or now - self._cache[k.hex][0] >= CACHE_SECONDS
                }
            )
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ", ".join("?" * len(part))
            rows = self._db().execute(
                f"SELECT id, wrapped FROM data_keys WHERE id IN ({marks})",  # noqa: S608 - marks only
                part,
            )
            opened = [(i, _unwrap(i, w)) for i, w in rows]
            with self._lock:
                for i, raw in opened:
                    self._remember(i, raw)

    def destroy(self, key_ids: Iterable[uuid.UUID]) -> tuple[int, bool]:
        """Delete the keys for good (and forget them in this process): (how many were held,
        whether no copy is left in the store's files — False: call again later)."""
        hex_ids = [k.hex for k in key_ids]
        if not hex_ids:
            return 0, True
        db = self._db()
        held = 0
        for start in range(0, len(hex_ids), 500):
            part = hex_ids[start : start + 500]
            marks = ", ".join("?" * len(part))
            held += int(
                db.execute(f"SELECT count(*) FROM data_keys WHERE id IN ({marks})", part)[0][0]  # noqa: S608 - marks only
            )
        db.executemany("DELETE FROM data_keys WHERE id = ?", [(h,) for h in hex_ids])
        with self._lock:
            for hex_id in hex_ids:
                self._cache.pop(hex_id, None)
        return held, db.compact()

    def with_purpose(self, purpose: str, *, made_before: float) -> list[uuid.UUID]:
        """The keys made for ``purpose`` before the time ``made_before`` (seconds)."""
        rows = self._db().execute(
            "SELECT id FROM data_keys WHERE purpose = ? AND created_at < ?", (purpose, made_before)
        )
        return [uuid.UUID(i) for (i,) in rows]

    def exists(self, key_id: uuid.UUID) -> bool:
        return bool(self._db().execute("SELECT 1 FROM data_keys WHERE id = ?", (key_id.hex,)))

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM data_keys")[0][0])

    def rewrap(self, *, batch: int = 1000) -> int:
        """Every key wrapped under an older root key, re-wrapped under the newest one (the data
        keys, and so every field, stay as they are). Resumable; returns how many changed."""
        ring = crypto.keyring()
        version = ring.current_version
        db = self._db()
        done, after = 0, ""
        while True:
            rows = db.execute(
                "SELECT id, wrapped FROM data_keys WHERE id > ? ORDER BY id LIMIT ?",
                (after, batch),
            )
            if not rows:
                return done
            after = rows[-1][0]
            stale = [(i, w) for i, w in rows if crypto.token_version(w) != version]
            if stale:
                db.executemany(
                    "UPDATE data_keys SET wrapped = ? WHERE id = ?",
                    [(_wrap(uuid.UUID(i), _unwrap(i, w, ring), ring), i) for i, w in stale],
                )
                done += len(stale)

    def root_version(self, key_id: uuid.UUID) -> int:
        """The root key version a data key is wrapped under (KeyErasedError: destroyed)."""
        rows = self._db().execute("SELECT wrapped FROM data_keys WHERE id = ?", (key_id.hex,))
        if not rows:
            raise KeyErasedError(f"data key {key_id.hex} was destroyed")
        return crypto.token_version(rows[0][0])

    def stale_count(self) -> int:
        version = crypto.keyring().current_version
        rows = self._db().execute("SELECT wrapped FROM data_keys")
        return sum(1 for (w,) in rows if crypto.token_version(w) != version)

    def wipe(self) -> None:
        """Every key gone (a test's fresh start; an install never calls it)."""
        self._db().execute("DELETE FROM data_keys")
        self.forget_cache()
        _inbox.clear()

    def forget_cache(self) -> None:
        with self._lock:
            self._cache.clear()


_store: KeyStore | None = None
_store_lock = threading.Lock()


def store() -> KeyStore:
    """This install's key store (``LIFELINE_KEYSTORE``)."""
    global _store
    from django.conf import settings

    location = str(settings.LIFELINE_KEYSTORE)
    current = _store
    if current is not None and current.location == location:
        return current
    with _store_lock:
        if _store is None or _store.location != location:
            _store = KeyStore(location)
        return _store


def set_store(new: KeyStore | None) -> None:
    """Replace the process's key store (tests); ``None`` reopens it from settings."""
    global _store
    with _store_lock:
        _store = new


_inbox: dict[tuple[int, str], DataKey] = {}


def inbox_key() -> DataKey:
    """The key that seals what arrives this hour (inbox payloads) in this process. Payloads are
    emptied once processed; the retention turn re-seals the few still waiting under the current
    hour's key and destroys each older one (lifeline.channels.retention), so what a person sent
    cannot be read from a copy of the database a couple of hours later."""
    hour = int(time.time() // 3600)
    slot = (hour, store().location)
    key = _inbox.get(slot)
    if key is None:
        key = store().create(purpose=INBOX)[0]
        _inbox.clear()
        _inbox[slot] = key
    return key


def key_of(owner: Any) -> DataKey:
    """The data key of an owner row (a case, a contact), made on its first use.

    An owner not yet in the database just gets the key's id in its ``data_key``; one already
    there gets it by a conditional UPDATE, so that two processes racing agree on one key."""
    if owner.data_key is not None:
        return store().get(owner.data_key)
    key = store().create()[0]
    if owner._state.adding:
        owner.data_key = key.id
        return key
    manager = type(owner)._default_manager
    if manager.filter(pk=owner.pk, data_key__isnull=True).update(data_key=key.id):
        owner.data_key = key.id
        return key
    owner.data_key = manager.filter(pk=owner.pk).values_list("data_key", flat=True).get()
    return store().get(owner.data_key)


def new_keys_for(owners: Sequence[Any]) -> None:
    """Give owners not yet in the database a key each, in one write to the store."""
    missing = [o for o in owners if o.data_key is None]
    for owner, key in zip(missing, store().create(len(missing)), strict=True):
        owner.data_key = key.id


@functools.cache
def family(owner_model: Any) -> list[tuple[type[Any], str]]:
    """The models whose rows are sealed under an owner's key, with the lookup from each to its
    owner (``key_owner_path``); the owner's own model first, with the lookup ``pk``."""
    from django.apps import apps

    from .models import SealedModel

    found: list[tuple[type[Any], str]] = [(owner_model, "pk")]
    for model in apps.get_models():
        path = getattr(model, "key_owner_path", "")
        if not (issubclass(model, SealedModel) and path and model.encrypted_fields()):
            continue
        target: Any = model
        for part in path.split("__"):
            target = target._meta.get_field(part).related_model
        if target is owner_model:
            found.append((model, path))
    return found


def shred(owner: Any) -> uuid.UUID | None:
    """Destroy the owner's data key once the caller's transaction commits, after re-sealing,
    under a fresh key, every encrypted value of his rows that the erasure kept (a case's status
    history, a contact's address). Call it after blanking what is to be erased: what was sealed
    under the old key then opens nowhere, in this database or any copy of it. Returns the id of
    the key to be destroyed (None: he had none)."""
    from django.db import transaction

    from .bulk import seal
    from .models import KeyShred

    old = owner.data_key
    if old is None:
        return None
    kept: list[tuple[Any, dict[str, Any]]] = []
    owner_model: Any = type(owner)
    for model, path in family(owner_model):
        fields = model.encrypted_fields()
        rows = model._default_manager.filter(**{path: owner.pk})
        for row in rows.only("pk", *(f.attname for f in fields)):
            values = {f.name: getattr(row, f.attname) for f in fields}  # opened by the old key
            if any(v is not None for v in values.values()):
                kept.append((row, values))
    # Nothing kept: no key until something is written again (then a fresh one, by key_of).
    new = store().create()[0] if kept else None
    type(owner)._default_manager.filter(pk=owner.pk).update(data_key=new.id if new else None)
    owner.data_key = new.id if new else None
    for row, values in kept:
        changes = {
            name: seal(type(row), name, row.pk, value, new) for name, value in values.items()
        }
        type(row)._default_manager.filter(pk=row.pk).update(**changes)
    KeyShred.objects.get_or_create(key=old)
    transaction.on_commit(lambda: destroy_shredded([old]))
    return uuid.UUID(str(old))


def shred_many(rows: Any) -> int:
    """Destroy the own data keys of many rows whose encrypted values were all just blanked
    (a batch of purged call numbers): no re-sealing, one write, the keys destroyed once the
    caller's transaction commits. ``rows``: a queryset of a :class:`KeyOwner` model. Returns
    how many keys are to be destroyed."""
    from django.db import transaction

    from .models import KeyShred

    pairs = list(rows.exclude(data_key__isnull=True).values_list("pk", "data_key"))
    if not pairs:
        return 0
    rows.model._default_manager.filter(pk__in=[pk for pk, _key in pairs]).update(data_key=None)
    keys = [uuid.UUID(str(key)) for _pk, key in pairs]
    KeyShred.objects.bulk_create([KeyShred(key=k) for k in keys], ignore_conflicts=True)
    transaction.on_commit(lambda: destroy_shredded(keys))
    return len(keys)


def destroy_shredded(keys: Sequence[uuid.UUID] | None = None) -> int:
    """Destroy keys written down for shredding (those given, or all: the purge's turn), and
    strike them off; how many the key store still held."""
    from .models import KeyShred

    pending = KeyShred.objects.all()
    if keys is not None:
        pending = pending.filter(key__in=keys)
    ids = list(pending.values_list("key", flat=True))
    if not ids:
        return 0
    held, gone = store().destroy(ids)
    if gone:  # else a reader kept the log: the purge's next turn finishes it
        KeyShred.objects.filter(key__in=ids).delete()
    return held


def purge(now: Any = None) -> dict[str, int]:
    """The retention turn's part: destroy the keys an erasure wrote down but did not live to
    destroy (a process killed between its commit and the key store)."""
    destroyed = destroy_shredded()
    return {"data_keys_destroyed": destroyed} if destroyed else {}
