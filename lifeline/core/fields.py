"""Model fields whose values are sealed with :mod:`lifeline.core.crypto` before they reach the DB.

The database column holds a ciphertext token bound to (table, column, primary key, key version).
Because the primary key is part of the binding, models using these fields have a UUID primary
key made in Python, known before the first INSERT (see :class:`lifeline.core.models.SealedModel`).

How it works: loading a row puts a :class:`Sealed` token on the instance; the attribute descriptor
decrypts it on first read (an error, never the stored bytes, if it does not decrypt). Saving
encrypts the current plaintext afresh: under the data key of the row's owner (a case, a contact:
:meth:`SealedModel.sealing_key`) where it has one, else under the newest root key.
A plaintext can never be written by ``QuerySet.update()`` or ``bulk_update()``: there is no row to
bind it to, so those raise instead of storing anything in clear.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models.query_utils import DeferredAttribute

from . import crypto, keystore

logger = logging.getLogger(__name__)


class Sealed:
    """A ciphertext token as read from the database, not yet decrypted."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return "<Sealed>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and other.token == self.token

    def __hash__(self) -> int:
        return hash(self.token)


class EncryptedAttribute(DeferredAttribute):
    """Data descriptor: decrypts lazily, caches the plaintext on the instance."""

    field: EncryptedField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)  # loads a deferred column if needed
        if isinstance(value, Sealed):
            value = self.field.open(instance, value)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedField(models.Field):
    """Base class: subclasses say how a Python value becomes bytes and back."""

    # What django-stubs' mypy plugin reports as the attribute's type.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    descriptor_class = EncryptedAttribute

    def get_internal_type(self) -> str:
        return "TextField"  # the column holds the ASCII ciphertext token

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("unique") or kwargs.get("db_index"):
            raise ImproperlyConfigured("an encrypted field cannot be indexed: use a blind index")
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    # --- plaintext <-> bytes; overridden per type -------------------------------------------
    def to_bytes(self, value: Any) -> bytes:
        return str(value).encode()

    def from_bytes(self, data: bytes) -> Any:
        return data.decode()

    # --- sealing ---------------------------------------------------------------------------
    def _binding(self, instance: Any) -> tuple[str, str, str]:
        if instance.pk is None:
            raise crypto.CryptoError(
                f"{type(instance).__name__} has no primary key to bind {self.column} to"
            )
        return instance._meta.db_table, self.column, str(instance.pk)

    def open(self, instance: Any, sealed: Sealed) -> Any:
        table, column, pk = self._binding(instance)
        try:
            return self.from_bytes(crypto.decrypt(sealed.token, table=table, column=column, pk=pk))
        except keystore.KeyErasedError:
            # Sealed under a destroyed data key: erased, as everything that key sealed (a row
            # a process wrote while the erasure ran, under the key it had just read).
            logger.warning("%s.%s of row %s was erased with its data key", table, column, pk)
            return None

    def seal(self, instance: Any, value: Any) -> Sealed | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            value = self.open(instance, value)
            if value is None:
                return None
        table, column, pk = self._binding(instance)
        sealing_key = getattr(instance, "sealing_key", None)
        data_key = sealing_key() if sealing_key is not None else None
        return Sealed(
            crypto.encrypt(
                self.to_bytes(value), table=table, column=column, pk=pk, data_key=data_key
            )
        )

    # --- Django hooks ----------------------------------------------------------------------
    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        return self.seal(model_instance, value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else Sealed(value)

    def to_python(self, value: Any) -> Any:
        return value

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.token
        raise crypto.CryptoError(
            f"refusing to write a plaintext into encrypted column {self.column}: "
            "set the attribute and call save() on the instance"
        )

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            return None  # filtering on ciphertext is meaningless; blind indexes exist for that
        return super().get_lookup(lookup_name)

    def value_to_string(self, obj: Any) -> str:
        # Serialisation (dumpdata) keeps the ciphertext, never the plaintext.
        raw = obj.__dict__.get(self.attname)
        sealed = raw if isinstance(raw, Sealed) else self.seal(obj, raw)
        return "" if sealed is None else sealed.token

    def formfield(self, *args: Any, **kwargs: Any) -> Any:
        return None  # forms are built explicitly; never auto-generated over ciphertext


class EncryptedTextField(EncryptedField):
    _pyi_private_set_type: str | None
    _pyi_private_get_type: str | None

    def to_bytes(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise TypeError(f"{self.name} takes text, got {type(value).__name__}")
        return value.encode()


class EncryptedDateField(EncryptedField):
    _pyi_private_set_type: date | None
    _pyi_private_get_type: date | None

    def to_bytes(self, value: Any) -> bytes:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{self.name} takes a date, got {type(value).__name__}")
        return value.isoformat().encode()

    def from_bytes(self, data: bytes) -> Any:
        return date.fromisoformat(data.decode())


class EncryptedDateTimeField(EncryptedField):
    _pyi_private_set_type: datetime | None
    _pyi_private_get_type: datetime | None

    def to_bytes(self, value: Any) -> bytes:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TypeError(f"{self.name} takes an aware datetime")
        return value.isoformat().encode()

    def from_bytes(self, data: bytes) -> Any:
        return datetime.fromisoformat(data.decode())


class EncryptedJSONField(EncryptedField):
    def to_bytes(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, sort_keys=True).encode()

    def from_bytes(self, data: bytes) -> Any:
        return json.loads(data)


class EncryptedBytesField(EncryptedField):
    """Bytes (a re-encoded photo, a voice message), sealed like any other value."""

    _pyi_private_set_type: bytes | None
    _pyi_private_get_type: bytes | None

    def to_bytes(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise TypeError(f"{self.name} takes bytes, got {type(value).__name__}")
        return value

    def from_bytes(self, data: bytes) -> Any:
        return data
