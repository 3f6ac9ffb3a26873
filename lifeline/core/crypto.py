"""The one module that owns Lifeline's cryptography.

* Personal fields are sealed with AES-256-GCM. Each (table, column) has its own key, derived with
  HKDF-SHA256 from a versioned root key. The associated data binds table, column, primary key and
  key version, so a ciphertext copied to another row or column, or changed by one byte, does not
  decrypt: it raises :class:`DecryptionError`, never falls back to the stored text.
* Blind indexes are HMAC-SHA256 over normalised values, under a separate key, truncated; only the
  kinds in :data:`BLIND_INDEX_KINDS` exist.

Token formats stored in the database (text, so dumps and backups stay plain ASCII):
``lf1:<key version>:<base64url(nonce || ciphertext || tag)>``, sealed under a key derived from
root key ``version``; and ``lf2:<data key id>:<base64url(...)>``, sealed under a data key of the
key store (:mod:`lifeline.core.keystore`): one per case, contact, conversation, call..., destroyed
to erase.

Keys never come from the repository or the database: see :func:`load_keyring`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "lf1"  # noqa: S105 - a format tag, not a secret
DATA_KEY_PREFIX = "lf2"
NONCE_BYTES = 12
KEY_BYTES = 32
BLIND_INDEX_BYTES = 8  # 64 bits: no collisions in practice for a million rows, less to correlate


class CryptoError(Exception):
    """Base of every error this module raises. Messages never contain plaintext."""

    lifeline_safe_message = True  # read by the log filter (core/logging.py)


class KeyConfigurationError(CryptoError):
    """Keys are missing or malformed."""


class UnknownKeyVersionError(CryptoError):
    """A ciphertext names a key version the key ring does not hold."""


class DecryptionError(CryptoError):
    """A ciphertext was altered, moved to another row or column, or sealed under other keys."""


class BlindIndexError(CryptoError):
    """A blind index was asked for a kind not on the allowlist, or for an unusable value."""


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigurationError(f"{what} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyConfigurationError(f"{what} must be {KEY_BYTES} bytes, got {len(raw)}")
    return raw


def generate_key() -> str:
    """A fresh random 256-bit key, base64-encoded."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True)
class KeyRing:
    """Versioned root keys for field encryption, and the separate blind-index and pepper keys."""

    root_keys: Mapping[int, bytes]
    blind_index_key: bytes
    codename_pepper: bytes
    #: Blind-index keys being rotated away from (newest first): look-ups still match indexes
    #: made under them until ``manage.py rotate_blind_index`` has re-indexed every row.
    old_blind_index_keys: tuple[bytes, ...] = ()
    _field_keys: dict[tuple[int, str, str], bytes] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        if not self.root_keys:
            raise KeyConfigurationError("the key ring holds no encryption key")
        for version, key in self.root_keys.items():
            if version < 1 or len(key) != KEY_BYTES:
                raise KeyConfigurationError(f"key version {version} is malformed")
        if len(self.blind_index_key) != KEY_BYTES or len(self.codename_pepper) != KEY_BYTES:
            raise KeyConfigurationError("blind-index key and codename pepper must be 32 bytes")
        if any(len(k) != KEY_BYTES for k in self.old_blind_index_keys):
            raise KeyConfigurationError("an old blind-index key must be 32 bytes")
        if any(k in self.root_keys.values() for k in self.blind_index_keys):
            raise KeyConfigurationError("the blind-index key must differ from every root key")

    def __repr__(self) -> str:  # never print key material
        return f"KeyRing(versions={sorted(self.root_keys)})"

    @property
    def blind_index_keys(self) -> tuple[bytes, ...]:
        """Every blind-index key a look-up tries, the newest (which every write uses) first."""
        return (self.blind_index_key, *self.old_blind_index_keys)

    @property
    def current_version(self) -> int:
        return max(self.root_keys)

    def field_key(self, version: int, table: str, column: str) -> bytes:
        cache_key = (version, table, column)
        cached = self._field_keys.get(cache_key)
        if cached is not None:
            return cached
        try:
            root = self.root_keys[version]
        except KeyError:
            raise UnknownKeyVersionError(
                f"key version {version} is not in the key ring (have {sorted(self.root_keys)})"
            ) from None
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=KEY_BYTES,
            salt=None,
            info=f"lifeline/field/v1/{table}/{column}".encode(),
        ).derive(root)
        self._field_keys[cache_key] = derived
        return derived


def parse_keys(text: str) -> dict[int, bytes]:
    """Parse ``"1:<b64>,2:<b64>"`` into {version: key}."""
    keys: dict[int, bytes] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        version_text, sep, key_text = part.partition(":")
        if not sep or not version_text.isdigit():
            raise KeyConfigurationError("LIFELINE_KEYS must look like '1:<base64>,2:<base64>'")
        version = int(version_text)
        if version in keys:
            raise KeyConfigurationError(f"key version {version} is given twice")
        keys[version] = _decode_key(key_text, f"key version {version}")
    return keys


def keyring_from_values(*, keys: str, blind_index_key: str, codename_pepper: str) -> KeyRing:
    """``blind_index_key``: one key, or during a rotation "<newest>,<older>,..." ."""
    index_keys = [
        _decode_key(k, "the blind-index key") for k in blind_index_key.split(",") if k.strip()
    ] or [_decode_key("", "the blind-index key")]
    return KeyRing(
        root_keys=parse_keys(keys),
        blind_index_key=index_keys[0],
        codename_pepper=_decode_key(codename_pepper, "the codename pepper"),
        old_blind_index_keys=tuple(index_keys[1:]),
    )


def read_key_file(path: Path) -> KeyRing:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise KeyConfigurationError(
            f"key file {path} does not exist: run `python manage.py init_keys` (make run does)"
        ) from None
    except (OSError, ValueError) as exc:
        raise KeyConfigurationError(f"key file {path} cannot be read as JSON") from exc
    try:
        keys = ",".join(f"{v}:{k}" for v, k in data["keys"].items())
        return keyring_from_values(
            keys=keys,
            blind_index_key=",".join(
                [data["blind_index_key"], *data.get("old_blind_index_keys", [])]
            ),
            codename_pepper=data["codename_pepper"],
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise KeyConfigurationError(f"key file {path} lacks keys/blind_index_key") from exc


def write_key_file(path: Path, ring: KeyRing) -> None:
    """Write a key ring to ``path`` readable by its owner only (atomic replace)."""
    data = {
        "keys": {str(v): base64.b64encode(k).decode() for v, k in sorted(ring.root_keys.items())},
        "blind_index_key": base64.b64encode(ring.blind_index_key).decode(),
        "codename_pepper": base64.b64encode(ring.codename_pepper).decode(),
    }
    if ring.old_blind_index_keys:
        data["old_blind_index_keys"] = [
            base64.b64encode(k).decode() for k in ring.old_blind_index_keys
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


def new_keyring() -> KeyRing:
    return KeyRing(
        root_keys={1: os.urandom(KEY_BYTES)},
        blind_index_key=os.urandom(KEY_BYTES),
        codename_pepper=os.urandom(KEY_BYTES),
    )


def add_key_version(ring: KeyRing) -> KeyRing:
    """A ring with one more, newest, root key; blind-index key and pepper unchanged."""
    keys = dict(ring.root_keys)
    keys[ring.current_version + 1] = os.urandom(KEY_BYTES)
    return replace(ring, root_keys=keys, _field_keys={})


def add_blind_index_key(ring: KeyRing) -> KeyRing:
    """A ring with a new blind-index key for writes; the current one kept for look-ups."""
    return replace(
        ring,
        blind_index_key=os.urandom(KEY_BYTES),
        old_blind_index_keys=(ring.blind_index_key, *ring.old_blind_index_keys),
        _field_keys={},
    )


def drop_old_blind_index_keys(ring: KeyRing) -> KeyRing:
    """The ring once every index is under the newest blind-index key."""
    return replace(ring, old_blind_index_keys=(), _field_keys={})


_active: KeyRing | None = None


def load_keyring() -> KeyRing:
    """The key ring configured in Django settings (environment first, then key file)."""
    from django.conf import settings

    if settings.LIFELINE_KEYS:
        return keyring_from_values(
            keys=settings.LIFELINE_KEYS,
            blind_index_key=settings.LIFELINE_BLIND_INDEX_KEY,
            codename_pepper=settings.LIFELINE_CODENAME_PEPPER,
        )
    if settings.LIFELINE_KEY_FILE:
        return read_key_file(Path(settings.LIFELINE_KEY_FILE))
    raise KeyConfigurationError(
        "no keys configured: set LIFELINE_KEYS, LIFELINE_BLIND_INDEX_KEY and "
        "LIFELINE_CODENAME_PEPPER, or LIFELINE_KEY_FILE"
    )


def keyring() -> KeyRing:
    global _active
    if _active is None:
        _active = load_keyring()
    return _active


def set_keyring(ring: KeyRing | None) -> None:
    """Replace the process's key ring (key rotation, tests). ``None`` reloads from settings."""
    global _active
    _active = ring


# --- Field encryption ---------------------------------------------------------------------


def _aad(table: str, column: str, pk: str, version: int | str) -> bytes:
    # Length-prefixed parts so that no two different tuples give the same bytes.
    parts = [table, column, pk, str(version)]
    return b"".join(len(p.encode()).to_bytes(2, "big") + p.encode() for p in parts)


def encrypt(
    plaintext: bytes,
    *,
    table: str,
    column: str,
    pk: str,
    ring: KeyRing | None = None,
    data_key: DataKeyLike | None = None,
) -> str:
    """Seal under ``data_key`` (an ``lf2`` token) if given, else under the newest root key."""
    nonce = os.urandom(NONCE_BYTES)
    if data_key is not None:
        key_id = data_key.id.hex
        sealed = AESGCM(data_key.key).encrypt(nonce, plaintext, _aad(table, column, pk, key_id))
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{DATA_KEY_PREFIX}:{key_id}:{body}"
    ring = ring or keyring()
    version = ring.current_version
    key = ring.field_key(version, table, column)
    sealed = AESGCM(key).encrypt(nonce, plaintext, _aad(table, column, pk, version))
    body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
    return f"{TOKEN_PREFIX}:{version}:{body}"


class DataKeyLike(Protocol):
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def key(self) -> bytes: ...


def token_version(token: str) -> int:
    """The root key version of an ``lf1`` token; 0 for an ``lf2`` one (its data key is wrapped
    by the root key in the key store, and re-wrapped there)."""
    prefix, _, rest = token.partition(":")
    version_text, _, _ = rest.partition(":")
    if prefix == DATA_KEY_PREFIX and _is_key_id(version_text):
        return 0
    if prefix != TOKEN_PREFIX or not version_text.isdigit():
        raise DecryptionError("stored value is not a Lifeline ciphertext")
    return int(version_text)


def token_data_key(token: str) -> uuid.UUID | None:
    """The data key an ``lf2`` token is sealed under (None for an ``lf1`` token)."""
    prefix, _, rest = token.partition(":")
    key_text, _, _ = rest.partition(":")
    if prefix == DATA_KEY_PREFIX and _is_key_id(key_text):
        return uuid.UUID(key_text)
    return None


_KEY_ID = re.compile(r"[0-9a-f]{32}")


def _is_key_id(text: str) -> bool:
    return _KEY_ID.fullmatch(text) is not None


def decrypt(token: str, *, table: str, column: str, pk: str, ring: KeyRing | None = None) -> bytes:
    where = f"{table}.{column} of row {pk}"
    if not isinstance(token, str):
        raise DecryptionError(f"{where}: stored value is not a Lifeline ciphertext")
    parts = token.split(":")
    if len(parts) == 3 and parts[0] == DATA_KEY_PREFIX and _is_key_id(parts[1]):
        from . import keystore  # the key store reads its wrapped keys with this module

        key = keystore.store().raw_key(parts[1])
        binding: str | int = parts[1]
    elif len(parts) == 3 and parts[0] == TOKEN_PREFIX and parts[1].isdigit():
        ring = ring or keyring()
        binding = int(parts[1])
        key = ring.field_key(binding, table, column)
    else:
        raise DecryptionError(f"{where}: stored value is not a Lifeline ciphertext")
    try:
        blob = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError(f"{where}: ciphertext is not valid base64") from None
    if len(blob) < NONCE_BYTES + 16:
        raise DecryptionError(f"{where}: ciphertext is truncated")
    try:
        return AESGCM(key).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(table, column, pk, binding)
        )
    except InvalidTag:
        raise DecryptionError(
            f"{where} does not decrypt: it was altered, moved from another row or column, "
            f"or sealed under a key this install does not hold (key {binding})"
        ) from None


# --- Blind indexes ------------------------------------------------------------------------

# Latin letters that look like Cyrillic ones, as people type service numbers on either keyboard.
_LOOKALIKES = str.maketrans("ABCEHKMOPTXY", "АВСЕНКМОРТХУ")
_SEPARATORS = re.compile(r"[\s\-‐-―_./\\№#]+")
_NAME_NOISE = re.compile(r"[^\w\s]+")


def normalise_service_number(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).upper().translate(_LOOKALIKES)
    text = _SEPARATORS.sub("", text)
    if not text:
        raise BlindIndexError("service number is empty after normalisation")
    return text


def normalise_phone(value: str, default_region: str = "RU") -> str:
    """E.164 form (``+79991234567``); raises :class:`BlindIndexError` for an unusable number."""
    import phonenumbers

    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise BlindIndexError("not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise BlindIndexError("not a possible phone number")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def normalise_telegram_id(value: str | int) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"-?\d{1,20}", text):
        raise BlindIndexError("a Telegram id is a number")
    return str(int(text))


def normalise_name(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).casefold().replace("ё", "е")
    text = _NAME_NOISE.sub(" ", text)
    text = " ".join(text.split())
    if not text:
        raise BlindIndexError("name is empty after normalisation")
    return text


def normalise_name_birth(name: str, birth_date: date) -> str:
    return f"{normalise_name(name)}|{birth_date.isoformat()}"


#: The only values that get a blind index. ``web_token`` is the web chat's random session token,
#: found by the server from the visitor's cookie; staff cannot search by it.
#: ``answers``: rank, unit and place together (cases.suspicion), to see near-identical
#: applications; never searched by staff.
BLIND_INDEX_KINDS = frozenset(
    {"service_number", "phone", "telegram_id", "name_birth", "web_token", "answers"}
)


_index_key: ContextVar[bytes | None] = ContextVar("lifeline_blind_index_key", default=None)


def blind_index(kind: str, normalised: str, *, ring: KeyRing | None = None) -> str:
    """HMAC-SHA256 of an already-normalised value, truncated; hex. Only allowlisted kinds.
    Under the newest blind-index key (or, inside :func:`lookup`, each active one in turn)."""
    if kind not in BLIND_INDEX_KINDS:
        raise BlindIndexError(f"no blind index is allowed for {kind!r}")
    key = _index_key.get() or (ring or keyring()).blind_index_key
    mac = hmac.new(key, f"{kind}\x00{normalised}".encode(), hashlib.sha256)
    return mac.digest()[:BLIND_INDEX_BYTES].hex()


def blind_index_key_id(ring: KeyRing | None = None) -> str:
    """A short public name of the newest blind-index key (to tell which key made an index
    kept without its plaintext, e.g. a blocked phone number)."""
    key = (ring or keyring()).blind_index_key
    return hmac.new(key, b"lifeline/blind-index-key-id", hashlib.sha256).hexdigest()[:16]


def lookup(index: Callable[..., str], *args: Any) -> list[str]:
    """The values to look a row up by: ``index(*args)`` under every active blind-index key,
    so that a search finds a row whether or not a key rotation has re-indexed it yet."""
    keys = keyring().blind_index_keys
    if len(keys) == 1:  # no rotation under way: the one index
        return [index(*args)]
    found: list[str] = []
    for key in keys:
        token = _index_key.set(key)
        try:
            value = index(*args)
        finally:
            _index_key.reset(token)
        if value not in found:
            found.append(value)
    return found


def service_number_index(value: str) -> str:
    return blind_index("service_number", normalise_service_number(value))


def phone_index(value: str) -> str:
    return blind_index("phone", normalise_phone(value))


def telegram_id_index(value: str | int) -> str:
    return blind_index("telegram_id", normalise_telegram_id(value))


def web_token_index(token: str) -> str:
    if not token or len(token) > 200:
        raise BlindIndexError("a web token is 1 to 200 characters")
    return blind_index("web_token", token)


def name_birth_index(name: str, birth_date: date) -> str:
    return blind_index("name_birth", normalise_name_birth(name, birth_date))


# --- Secrets hashed with a pepper (codenames) ---------------------------------------------

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


def hash_secret(secret: str, *, ring: KeyRing | None = None, salt: bytes | None = None) -> str:
    """scrypt(HMAC(pepper, secret)) with a random salt: ``scrypt$n$r$p$salt$hash``."""
    ring = ring or keyring()
    salt = salt or os.urandom(16)
    peppered = hmac.new(ring.codename_pepper, secret.encode(), hashlib.sha256).digest()
    digest = hashlib.scrypt(
        peppered, salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=64 * 1024 * 1024
    )
    return "$".join(
        ["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), salt.hex(), digest.hex()]
    )


def verify_secret(secret: str, encoded: str, *, ring: KeyRing | None = None) -> bool:
    try:
        algo, n, r, p, salt_hex, digest_hex = encoded.split("$")
    except ValueError:
        return False
    if algo != "scrypt":
        return False
    ring = ring or keyring()
    peppered = hmac.new(ring.codename_pepper, secret.encode(), hashlib.sha256).digest()
    digest = hashlib.scrypt(
        peppered,
        salt=bytes.fromhex(salt_hex),
        n=int(n),
        r=int(r),
        p=int(p),
        maxmem=64 * 1024 * 1024,
    )
    return hmac.compare_digest(digest.hex(), digest_hex)


#: A well-formed hash of nothing, with today's parameters: checking a secret against it costs
#: exactly what checking against a real hash costs, and never matches (no secret hashes to zeros).
DUMMY_SECRET_HASH = "$".join(
    ["scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), "00" * 16, "00" * 32]
)

SECRET_TAG_BYTES = 2


def secret_tag(secret: str, *, ring: KeyRing | None = None) -> str:
    """A 16-bit keyed tag of a secret, to choose which one stored hash to check.

    Under the pepper, so the database alone says nothing; with the pepper too, it narrows a
    60-bit codename to 44 bits that must still be found through scrypt."""
    ring = ring or keyring()
    mac = hmac.new(ring.codename_pepper, b"tag\x00" + secret.encode(), hashlib.sha256).digest()
    return mac[:SECRET_TAG_BYTES].hex()


def verify_secret_or_dummy(secret: str, encoded: str | None) -> bool:
    """Exactly one slow hash whether or not there is anything to check against."""
    matched = verify_secret(secret, encoded or DUMMY_SECRET_HASH)
    return matched and bool(encoded)
